//! The central area's views: [`single`] (one view with picks, drawn by [`picks`]), [`compare`] (2 to 4 panes or a
//! swipe), [`orthoviews`] (XZ and YZ through a volume) and [`gallery`] (a screening folder's
//! thumbnails, key G, with its plots and table, and the live pane of **Watch folder…**).

pub mod compare;
pub mod gallery;
pub mod orthoviews;
pub mod picks;
pub mod single;
