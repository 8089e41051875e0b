//! Each run's own writable layer: overlayfs with the rootfs (or an image's
//! layers) as read-only lower layers.
