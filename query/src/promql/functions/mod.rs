//! PromQL's float functions as pure computations: over a window of samples ([`range`]), per
//! sample ([`elementwise`]), over classic histogram buckets ([`histogram`]), and the numerics
//! they and the aggregation operators share ([`stats`]). The evaluator chooses the inputs
//! (windows, parameters, label handling, annotations); these only compute.

pub(crate) mod elementwise;
pub(crate) mod histogram;
pub(crate) mod range;
pub(crate) mod stats;
