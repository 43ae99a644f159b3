//! Shape detection: the one place that says how an event's shape is recognised. The event is
//! parsed once; its discriminating fields are then checked in this order, first match wins:
//!
//! | order | shape | discriminating fields |
//! |---|---|---|
//! | 1 | [`EventShape::Envoy`] | a top-level `raw_path` (snake_case, only Envoy's `aws_lambda` filter sends it) |
//! | 2 | [`EventShape::Alb`] | `requestContext.elb` is present; `multi_value` when `multiValueHeaders` is present and not null |
//! | 3 | [`EventShape::FunctionUrl`] | `version` is `"2.0"`, `requestContext.http` is present, and `requestContext.domainName` contains `.lambda-url.` |
//! | 4 | [`EventShape::ApiGatewayV2`] | `version` is `"2.0"` and `requestContext.http` is present |
//! | 5 | [`EventShape::ApiGatewayV1`] | `httpMethod` and `requestContext` are present (no `elb`) |
//! | 6 | [`EventShape::PassThrough`] | anything else that is valid JSON (SQS, SNS, S3, EventBridge, custom events, scalars) |
//!
//! Once a shape is chosen, fields it requires must be well-formed: a malformed HTTP event is an
//! error naming the field, never silently passed through.

use crate::json::Node;
use crate::EventShape;

/// The shape of a parsed event, by the table above.
pub(crate) fn detect(event: &Node<'_>) -> EventShape {
    if event.get("raw_path").is_some() {
        return EventShape::Envoy;
    }
    let context = event.field("requestContext");
    if context.and_then(|c| c.field("elb")).is_some() {
        return EventShape::Alb {
            multi_value: event.field("multiValueHeaders").is_some(),
        };
    }
    let is_v2 = event.get("version").and_then(Node::as_str) == Some("2.0")
        && context.and_then(|c| c.field("http")).is_some();
    if is_v2 {
        let url = context
            .and_then(|c| c.get("domainName"))
            .and_then(Node::as_str)
            .is_some_and(|d| d.contains(".lambda-url."));
        return if url {
            EventShape::FunctionUrl
        } else {
            EventShape::ApiGatewayV2
        };
    }
    if event.get("httpMethod").is_some() && context.is_some() {
        return EventShape::ApiGatewayV1;
    }
    EventShape::PassThrough
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(json: &str) -> EventShape {
        detect(&Node::parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn table_order() {
        assert_eq!(
            shape(r#"{"raw_path":"/","method":"GET"}"#),
            EventShape::Envoy
        );
        assert_eq!(
            shape(r#"{"httpMethod":"GET","requestContext":{"elb":{}},"multiValueHeaders":{}}"#),
            EventShape::Alb { multi_value: true }
        );
        assert_eq!(
            shape(
                r#"{"httpMethod":"GET","requestContext":{"elb":{}},"headers":{},"multiValueHeaders":null}"#
            ),
            EventShape::Alb { multi_value: false }
        );
        assert_eq!(
            shape(
                r#"{"version":"2.0","requestContext":{"http":{},"domainName":"abc.lambda-url.us-east-1.on.aws"}}"#
            ),
            EventShape::FunctionUrl
        );
        assert_eq!(
            shape(r#"{"version":"2.0","requestContext":{"http":{}}}"#),
            EventShape::ApiGatewayV2
        );
        assert_eq!(
            shape(r#"{"httpMethod":"GET","requestContext":{}}"#),
            EventShape::ApiGatewayV1
        );
        assert_eq!(
            shape(r#"{"Records":[{"body":"x"}]}"#),
            EventShape::PassThrough
        );
        assert_eq!(
            shape(r#"{"version":"0","detail-type":"x"}"#),
            EventShape::PassThrough
        );
        assert_eq!(shape(r#"[1,2]"#), EventShape::PassThrough);
        assert_eq!(shape(r#""text""#), EventShape::PassThrough);
    }
}
