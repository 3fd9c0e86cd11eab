//! The payload a feed sends: the whole event data (`all_data`), or a map of payload key →
//! rendered smartcode template (`selected_fields`), in the order the user listed them.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::settings::Body;

/// The payload; all data is borrowed, not copied (it is only encoded).
pub fn build<'a>(body: &Body, data: &'a Value) -> Cow<'a, Value> {
    match body {
        Body::AllData => Cow::Borrowed(data),
        Body::SelectedFields(fields) => {
            // Keys "0", "1", … in order make a PHP list, which json_encode writes as [..].
            if fields.iter().enumerate().all(|(i, f)| f.key == i.to_string()) {
                return Cow::Owned(Value::Array(fields.iter().map(|f| f.template.render(data)).collect()));
            }
            let mut payload = Map::with_capacity(fields.len());
            for field in fields {
                payload.insert(field.key.clone(), field.template.render(data));
            }
            Cow::Owned(Value::Object(payload))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SelectedField;
    use crate::smartcode::Template;
    use serde_json::json;

    #[test]
    fn numbered_keys_make_a_list_as_in_php() {
        let body = Body::SelectedFields(vec![
            SelectedField { key: "0".into(), template: Template::parse("a") },
            SelectedField { key: "1".into(), template: Template::parse("b") },
        ]);
        assert_eq!(*build(&body, &Value::Null), serde_json::json!(["a", "b"]));
    }

    #[test]
    fn selected_fields_keep_the_users_order() {
        let body = Body::SelectedFields(vec![
            SelectedField { key: "z_total".into(), template: Template::parse("{{order.total_amount}}") },
            SelectedField { key: "a_email".into(), template: Template::parse("{{order.billing.email}}") },
        ]);
        let data = json!({"order": {"total_amount": 1999, "billing": {"email": "a@b.test"}}});
        assert_eq!(serde_json::to_string(&build(&body, &data)).unwrap(), r#"{"z_total":19.99,"a_email":"a@b.test"}"#);
    }
}
