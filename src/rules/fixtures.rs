//! Rule fixtures and lint (placeholder).
