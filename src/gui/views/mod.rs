//! The central area's views: [`single`] (one view with picks, drawn by [`picks`]), [`compare`] (2 to 4 panes or a
//! swipe) and [`orthoviews`] (XZ and YZ through a volume).

pub mod compare;
pub mod orthoviews;
pub mod picks;
pub mod single;
