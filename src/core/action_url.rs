//! Action URLs: call events and key presses as HTTP GET requests (sans-IO parsing).
