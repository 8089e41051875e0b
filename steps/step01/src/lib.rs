//! Chapter 1: the UTS namespace. Later steps use [`uts`] as it is.

pub mod uts;
