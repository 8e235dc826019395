//! Logiwa IO simulator (placeholder while building).
#[derive(Debug, Clone, Default)]
pub struct LogiwaConfig;
#[derive(Debug)]
pub struct LogiwaSim;
#[derive(Debug, Clone)]
pub struct LogiwaState;
#[derive(Debug, Clone, Copy)]
pub enum RateTier { Basic }
