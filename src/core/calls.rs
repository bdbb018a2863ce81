//! Calls, keys and recording policies (sans-IO).
