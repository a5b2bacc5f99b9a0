//! Reading a function's configuration. Each crate's `Config::from_lookup` takes a lookup function
//! (`std::env::var` in `main`, a map in tests) so configuration is tested without touching the
//! process environment.

/// The non-empty value of the setting `name`, or an error that names it.
pub fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    lookup(name)
        .filter(|value| !value.is_empty())
        .ok_or(format!("{name} is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_setting_is_an_error_naming_it() {
        let lookup = |name: &str| match name {
            "TABLE" => Some("objects".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(required(&lookup, "TABLE"), Ok("objects".to_owned()));
        assert_eq!(required(&lookup, "EMPTY"), Err("EMPTY is required".to_owned()));
        assert_eq!(required(&lookup, "MISSING"), Err("MISSING is required".to_owned()));
    }
}
