//! Reading the page and filter of a long list from what a page address or a call carries: a
//! clear message naming the field when it is not one.

use crate::error::FieldError;
use crate::types::MachineState;

/// The furthest page anyone may ask for.
pub const MAX_PAGE: i64 = 100_000;

/// A page number, from 1 (`None` or empty: the first).
pub fn page(input: Option<&str>) -> Result<i64, FieldError> {
    let text = input.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Ok(1);
    }
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(FieldError::new(
            "page",
            format!("Give a page number from 1 to {MAX_PAGE}."),
        )),
    }
}

/// The machine table's state filter and page.
pub fn machine_page(
    state: Option<&str>,
    page_number: Option<&str>,
) -> Result<(Option<MachineState>, i64), Vec<FieldError>> {
    let mut errors = Vec::new();
    let text = state.map(str::trim).unwrap_or_default();
    let state = match text {
        "" => None,
        text => match MachineState::parse(text) {
            Some(state) => Some(state),
            None => {
                let known: Vec<_> = MachineState::ALL.iter().map(|s| s.as_str()).collect();
                errors.push(FieldError::new(
                    "state",
                    format!("Choose one of: {}.", known.join(", ")),
                ));
                None
            }
        },
    };
    let page = page(page_number).map_err(|e| errors.push(e)).unwrap_or(1);
    match errors.is_empty() {
        true => Ok((state, page)),
        false => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_a_number_from_one_to_the_cap() {
        assert_eq!(page(None), Ok(1));
        assert_eq!(page(Some(" ")), Ok(1));
        assert_eq!(page(Some("3")), Ok(3));
        for bad in ["0", "-1", "x", "1.5", "100001", "1 OR 1=1"] {
            assert_eq!(page(Some(bad)).unwrap_err().field, "page", "{bad}");
        }
    }

    #[test]
    fn the_machine_filter_names_each_field_at_fault() {
        assert_eq!(
            machine_page(Some("broken"), Some("2")),
            Ok((Some(MachineState::Broken), 2))
        );
        assert_eq!(machine_page(None, None), Ok((None, 1)));
        let errors = machine_page(Some("on fire"), Some("0")).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["state", "page"]);
        assert!(errors[0].message.contains("broken"));
    }
}
