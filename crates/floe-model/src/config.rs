//! Parsing HF `config.json` files: a field reader whose errors name the field, the rotary
//! embedding settings shared by every architecture, and the Qwen3-MoE configuration.

use serde_json::Value;

use crate::ModelError;

/// Reads typed fields of a JSON object, with errors that name the field.
#[derive(Clone, Copy, Debug)]
pub struct ConfigFields<'a> {
    object: &'a Value,
    prefix: &'a str,
}

impl<'a> ConfigFields<'a> {
    /// A reader over `config`, which must be a JSON object.
    pub fn new(config: &'a Value) -> Result<Self, ModelError> {
        if !config.is_object() {
            return Err(ModelError::config(
                "<root>",
                "config.json is not a JSON object",
            ));
        }
        Ok(Self {
            object: config,
            prefix: "",
        })
    }

    /// The reader of a nested object `field`, or `None` when it is absent or null.
    pub fn nested(&self, field: &'a str) -> Result<Option<ConfigFields<'a>>, ModelError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(ConfigFields {
                object: v,
                prefix: field,
            })),
            Some(_) => Err(ModelError::config(self.name(field), "expected an object")),
        }
    }

    /// The full name of `field` for messages (`parent.field` inside a nested object).
    pub fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    /// The raw value of `field`, `None` when absent or null.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    /// A required non-negative integer.
    pub fn usize(&self, field: &str) -> Result<usize, ModelError> {
        self.opt_usize(field)?.ok_or_else(|| {
            ModelError::config(
                self.name(field),
                "missing (a non-negative integer is required)",
            )
        })
    }

    /// A required integer that is at least 1.
    pub fn positive(&self, field: &str) -> Result<usize, ModelError> {
        let v = self.usize(field)?;
        if v == 0 {
            return Err(ModelError::config(self.name(field), "must be at least 1"));
        }
        Ok(v)
    }

    /// An optional non-negative integer.
    pub fn opt_usize(&self, field: &str) -> Result<Option<usize>, ModelError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    ModelError::config(
                        self.name(field),
                        format!("expected a non-negative integer, found {v}"),
                    )
                }),
        }
    }

    /// A required number.
    pub fn f64(&self, field: &str) -> Result<f64, ModelError> {
        self.opt_f64(field)?
            .ok_or_else(|| ModelError::config(self.name(field), "missing (a number is required)"))
    }

    /// An optional number.
    pub fn opt_f64(&self, field: &str) -> Result<Option<f64>, ModelError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                ModelError::config(self.name(field), format!("expected a number, found {v}"))
            }),
        }
    }

    /// An optional boolean, `default` when absent.
    pub fn bool_or(&self, field: &str, default: bool) -> Result<bool, ModelError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| {
                ModelError::config(
                    self.name(field),
                    format!("expected true or false, found {v}"),
                )
            }),
        }
    }

    /// An optional string.
    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>, ModelError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| {
                ModelError::config(self.name(field), format!("expected a string, found {v}"))
            }),
        }
    }

    /// An optional list of non-negative integers, empty when absent.
    pub fn usize_list(&self, field: &str) -> Result<Vec<usize>, ModelError> {
        let Some(v) = self.get(field) else {
            return Ok(Vec::new());
        };
        let bad = || {
            ModelError::config(
                self.name(field),
                format!("expected a list of non-negative integers, found {v}"),
            )
        };
        let items = v.as_array().ok_or_else(bad)?;
        items
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(bad)
            })
            .collect()
    }

    /// Token ids given either as one integer or as a list (HF's `eos_token_id`); empty when absent.
    pub fn token_ids(&self, field: &str) -> Result<Vec<u32>, ModelError> {
        let Some(v) = self.get(field) else {
            return Ok(Vec::new());
        };
        let bad = || {
            ModelError::config(
                self.name(field),
                format!("expected a token id or a list of them, found {v}"),
            )
        };
        let one = |x: &Value| {
            x.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad)
        };
        match v {
            Value::Array(items) => items.iter().map(one).collect(),
            other => Ok(vec![one(other)?]),
        }
    }
}

/// Rotary embedding settings read from `rope_parameters` (transformers ≥ 5), `rope_theta` and
/// `rope_scaling` (older configs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeConfig {
    /// Base θ.
    pub theta: f64,
    /// Fraction of each head's dimensions that are rotated (`partial_rotary_factor`, default 1).
    pub partial_rotary_factor: f64,
}

impl RopeConfig {
    /// Reads the rotary settings. Only the plain (`default`) rope type is implemented; a scaled
    /// type (yarn, linear, dynamic, …) is an error naming the field rather than silently wrong
    /// positions.
    pub fn parse(fields: &ConfigFields<'_>) -> Result<Self, ModelError> {
        let params = fields.nested("rope_parameters")?;
        let scaling = fields.nested("rope_scaling")?;
        for section in [params, scaling].into_iter().flatten() {
            let kind = match section.opt_str("rope_type")? {
                Some(t) => Some(("rope_type", t)),
                None => section.opt_str("type")?.map(|t| ("type", t)),
            };
            if let Some((key, kind)) = kind {
                if kind != "default" {
                    return Err(ModelError::config(
                        section.name(key),
                        format!("rope type '{kind}' is not supported (only 'default')"),
                    ));
                }
            }
        }
        let mut theta = None;
        for section in [params, Some(*fields), scaling].into_iter().flatten() {
            if let Some(t) = section.opt_f64("rope_theta")? {
                theta = Some((section.name("rope_theta"), t));
                break;
            }
        }
        let (theta_field, theta) = theta.ok_or_else(|| {
            ModelError::config("rope_theta", "missing (looked in rope_parameters.rope_theta, rope_theta and rope_scaling.rope_theta)")
        })?;
        if !(theta.is_finite() && theta > 1.0) {
            return Err(ModelError::config(
                theta_field,
                format!("must be a finite number above 1, found {theta}"),
            ));
        }
        let mut factor = None;
        for section in [params, Some(*fields)].into_iter().flatten() {
            if let Some(f) = section.opt_f64("partial_rotary_factor")? {
                factor = Some((section.name("partial_rotary_factor"), f));
                break;
            }
        }
        let partial_rotary_factor = match factor {
            None => 1.0,
            Some((_, f)) if f > 0.0 && f <= 1.0 => f,
            Some((field, f)) => {
                return Err(ModelError::config(
                    field,
                    format!("must be in (0, 1], found {f}"),
                ))
            }
        };
        Ok(Self {
            theta,
            partial_rotary_factor,
        })
    }
}
