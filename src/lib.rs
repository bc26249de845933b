//! zsso facade (being written)
