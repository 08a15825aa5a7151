//! Functions applied to each sample of an instant vector on its own (`abs`, `round`, `hour`, …).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElementFunction {
    Abs,
}

impl ElementFunction {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        todo!("{name}")
    }

    /// The function of one value; `params` are the scalar arguments at this step after the
    /// vector (`round`: `[to_nearest]`, `clamp`: `[min, max]`). `None` drops the sample.
    pub(crate) fn apply(self, v: f64, params: &[f64]) -> Option<f64> {
        todo!("{self:?} {v} {params:?}")
    }
}
