//! The payload a feed sends: the whole event data (`all_data`), or a map of payload key →
//! rendered smartcode template (`selected_fields`), in the order the user listed them.

use serde_json::{Map, Value};

use crate::settings::Body;

pub fn build(body: &Body, data: &Value) -> Value {
    match body {
        Body::AllData => data.clone(),
        Body::SelectedFields(fields) => {
            let mut payload = Map::with_capacity(fields.len());
            for field in fields {
                payload.insert(field.key.clone(), field.template.render(data));
            }
            Value::Object(payload)
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
    fn selected_fields_keep_the_users_order() {
        let body = Body::SelectedFields(vec![
            SelectedField {
                key: "z_total".into(),
                template: Template::parse("{{order.total_amount}}"),
            },
            SelectedField {
                key: "a_email".into(),
                template: Template::parse("{{order.billing.email}}"),
            },
        ]);
        let data = json!({"order": {"total_amount": 1999, "billing": {"email": "a@b.test"}}});
        assert_eq!(
            serde_json::to_string(&build(&body, &data)).unwrap(),
            r#"{"z_total":19.99,"a_email":"a@b.test"}"#
        );
    }
}
