//! The renderers: text, pages, plots and files for people and CI, from the analyses' plain
//! data. They compute no numbers of their own.

pub mod advice_report;
pub mod compare_report;
pub mod hdr;
pub mod history_page;
pub mod junit;
pub mod plot;
pub mod report;
pub mod sweep_report;
pub mod terminal;
