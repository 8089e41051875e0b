pub mod caps;
