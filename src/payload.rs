//! The payload a feed sends: the whole event data (`all_data`), or a map of payload key →
//! rendered smartcode template (`selected_fields`), in the order the user listed them.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::settings::Body;
use crate::smartcode::{Budget, OverBudget};

/// The payload; all data is borrowed, not copied (it is only encoded).
pub fn build<'a>(body: &Body, data: &'a Value) -> Cow<'a, Value> {
    build_within(body, data, usize::MAX).unwrap_or(Cow::Owned(Value::Null))
}

/// [`build`] for a body of at most `limit` bytes: selected fields stop rendering, with
/// `OverBudget`, once what they copy and write shows that the body would pass it (see
/// [`Budget`]). All data is only borrowed: its size is checked where it is encoded.
pub fn build_within<'a>(body: &Body, data: &'a Value, limit: usize) -> Result<Cow<'a, Value>, OverBudget> {
    let fields = match body {
        Body::AllData => return Ok(Cow::Borrowed(data)),
        Body::SelectedFields(fields) => fields,
    };
    let mut budget = Budget::new(limit);
    budget.spend(1)?;
    // Keys "0", "1", … in order make a PHP list, which json_encode writes as [..].
    if fields.iter().enumerate().all(|(i, f)| f.key == i.to_string()) {
        let items = fields.iter().map(|f| f.template.render_within(data, &mut budget));
        return Ok(Cow::Owned(Value::Array(items.collect::<Result<_, _>>()?)));
    }
    let mut payload = Map::with_capacity(fields.len());
    for field in fields {
        budget.spend(field.key.len())?;
        payload.insert(field.key.clone(), field.template.render_within(data, &mut budget)?);
    }
    Ok(Cow::Owned(Value::Object(payload)))
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

    /// show_if writes its arg, not the value: a value larger than the budget (selected fields
    /// read data of any size on purpose) renders a few bytes, and was refused by the probe of
    /// 49daa6b, which measured the value as if its text were written.
    #[test]
    fn show_if_of_a_large_value_is_not_refused() {
        let data =
            json!({"order": {"note": "n".repeat(1 << 20), "items": vec![json!({"k": "v".repeat(100)}); 10_000]}});
        let field = |template: &str| SelectedField { key: "a".into(), template: Template::parse(template) };
        for template in ["{{order.note||show_if|yes}}", "paid: {{order.items||show_if|yes}}"] {
            let body = Body::SelectedFields(vec![field(template)]);
            let fits = crate::encode::json::encode(&build(&body, &data)).len();
            assert!(fits < 100, "{template}");
            assert_eq!(build_within(&body, &data, 4096).expect(template), build(&body, &data));
        }
    }

    #[test]
    fn selected_fields_stop_rendering_past_the_limit() {
        // 1,000 copies of a 1 MB value, each as a field of its own and all in one template.
        let data = json!({"order": {"note": "n".repeat(1 << 20)}});
        let many = |key: &str, template: &str| SelectedField { key: key.into(), template: Template::parse(template) };
        let fields = Body::SelectedFields((0..1000).map(|i| many(&format!("k{i}"), "{{order.note}}")).collect());
        assert_eq!(build_within(&fields, &data, 4 << 20), Err(OverBudget));
        let text = Body::SelectedFields(vec![many("a", &"{{order.note}}".repeat(1000))]);
        assert_eq!(build_within(&text, &data, 4 << 20), Err(OverBudget));
        let lists = Body::SelectedFields(vec![many("a", &"{{order||trim}}".repeat(1000))]);
        assert_eq!(build_within(&lists, &data, 4 << 20), Err(OverBudget));
        // A payload whose JSON fits is never refused: limits of exactly its JSON's length.
        let small = json!({"order": {"a": "x", "n": null, "pad": "  y  ", "list": [1, null, "", [], {"k": false}]}});
        for template in
            ["{{order.a}}".repeat(500), "{{order.pad||trim}}".repeat(200), "{{order.n}}{{order.list}}".repeat(50)]
        {
            for body in [
                Body::SelectedFields(vec![many("a", &template)]),
                Body::SelectedFields((0..50).map(|i| many(&i.to_string(), "{{order.list}}")).collect()),
                Body::SelectedFields((0..50).map(|i| many(&format!("k{i}"), "{{order}}")).collect()),
            ] {
                let fits = crate::encode::json::encode(&build(&body, &small)).len();
                assert_eq!(build_within(&body, &small, fits).unwrap(), build(&body, &small), "{template}");
            }
        }
        // What fits renders as without a limit.
        let few = Body::SelectedFields((0..3).map(|i| many(&format!("k{i}"), "x {{order.note}}")).collect());
        assert_eq!(build_within(&few, &data, 4 << 20).unwrap(), build(&few, &data));
        assert_eq!(build_within(&Body::AllData, &data, 1).unwrap(), build(&Body::AllData, &data));
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
