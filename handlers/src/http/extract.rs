//! Extractors that turn a request into typed input or a precise error: malformed JSON
//! is a 400, a well-formed body with a bad, missing, unknown or repeated field is a 422
//! that names the field, an oversized body is a 413.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{
        StatusCode,
        header::{CONTENT_LENGTH, CONTENT_TYPE},
        request::Parts,
    },
};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON body, deserialised with the path of any failing field.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        decode_json_object(&json_body(request, state).await?).map(ApiJson)
    }
}

/// The bytes of a JSON request body. A missing content type is taken as JSON (the body
/// is checked anyway); a different one is refused, since a form post is a mistake.
pub async fn json_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(content_type) = request.headers().get(CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let is_json = essence.eq_ignore_ascii_case("application/json")
            || essence.to_ascii_lowercase().ends_with("+json");
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
        }
    }
    body(request, state).await
}

/// The bytes of a request body of any content type (SNS sends JSON as `text/plain`),
/// within the size limit.
pub async fn body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    // A body declared too large is refused before a byte of it is read.
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > super::error::MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })
}

/// Decodes a body that must be one JSON object (serde would otherwise read a struct
/// from an array, position by position).
pub fn decode_json_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match body.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'{') | None => decode_json(body),
        Some(_) => {
            // Still report broken JSON as broken rather than as the wrong shape.
            serde_json::from_slice::<serde::de::IgnoredAny>(body)
                .map_err(|err| ApiError::MalformedJson(without_position(&err.to_string())))?;
            Err(ApiError::invalid("body", "must be a JSON object"))
        }
    }
}

/// Decodes a JSON document into `T`, telling syntax errors (400) from data errors
/// (422, with the path of the field at fault). A key repeated in any object is a data
/// error, in maps as in structs.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = decode_json_value(body)?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        field_error(&path, err.into_inner().to_string())
    })
}

/// Decodes a JSON document as it is, refusing a key repeated in any object (422
/// naming it) instead of keeping the last one as serde_json does: `{"severity": "LOW",
/// "severity": "HIGH"}` means two things, and each reader of the body could take
/// another.
pub fn decode_json_value(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson(
            "the request body is empty; send a JSON object".to_owned(),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let UniqueKeys(value) = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = without_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => field_error(&path, message),
            _ => ApiError::MalformedJson(message),
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::MalformedJson(without_position(&err.to_string())))?;
    Ok(value)
}

/// A JSON value none of whose objects repeats a key.
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        // serde_json reads no NaN or infinity, so this is always a number.
        Ok(serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(object.into())
    }
}

/// Query parameters, deserialised like a body: unknown or mistyped parameters are a
/// 422 naming the parameter, so a misspelt filter never silently returns everything.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                field_error(&path, err.into_inner().to_string())
            })
    }
}

/// serde reports a missing or unknown field at the level of the object that lacks or
/// has it; name the field itself instead.
pub(crate) fn field_error(path: &str, message: String) -> ApiError {
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (path, Some(name)) if !path.ends_with(name) => format!("{path}.{name}"),
        (".", None) => "body".to_owned(),
        (path, _) => path.to_owned(),
    };
    ApiError::invalid(field, message)
}

pub(crate) fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Deserialises a field that may be absent (`None`), null (`Some(None)`) or set
/// (`Some(Some(value))`), which PATCH needs to tell "leave it" from "clear it".
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<u32>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    fn failure(body: &str) -> (u16, String) {
        match decode_json_object::<Body>(body.as_bytes()) {
            Ok(value) => panic!("{body} decoded to {value:?}"),
            Err(err) => {
                let field = match &err {
                    ApiError::Invalid { field, .. } => field.clone(),
                    _ => String::new(),
                };
                (err.status().as_u16(), field)
            }
        }
    }

    #[test]
    fn syntax_errors_are_400_and_data_errors_name_their_field() {
        assert_eq!(failure("{"), (400, String::new()));
        assert_eq!(failure(""), (400, String::new()));
        assert_eq!(failure(r#"{"name": "a"} trailing"#), (400, String::new()));
        assert_eq!(failure(r#"{"count": 1}"#), (422, "name".to_owned()));
        assert_eq!(
            failure(r#"{"name": "a", "bogus": 1}"#),
            (422, "bogus".to_owned())
        );
        assert_eq!(failure(r#"{"name": 7}"#), (422, "name".to_owned()));
        assert_eq!(
            failure(r#"{"name": "a", "count": -1}"#),
            (422, "count".to_owned())
        );
        assert_eq!(
            failure(r#"{"name": "a", "inner": {"flag": "yes"}}"#),
            (422, "inner.flag".to_owned())
        );
        assert_eq!(
            failure(r#"{"name": "a", "inner": {}}"#),
            (422, "inner.flag".to_owned())
        );
        assert_eq!(failure("[1, 2]"), (422, "body".to_owned()));
        assert_eq!(failure("42"), (422, "body".to_owned()));
        assert_eq!(failure("[1, "), (400, String::new()));
    }

    #[test]
    fn a_repeated_key_is_a_422_naming_it_at_any_depth() {
        assert_eq!(
            failure(r#"{"name": "a", "name": "b"}"#),
            (422, "name".to_owned())
        );
        assert_eq!(
            failure(r#"{"name": "a", "inner": {"flag": true, "flag": false}}"#),
            (422, "inner.flag".to_owned())
        );
        let value = decode_json_value(br#"{"a": {"b": 1}, "c": [{"b": 1}, {"b": 2}]}"#);
        assert_eq!(
            value.ok(),
            Some(serde_json::json!({"a": {"b": 1}, "c": [{"b": 1}, {"b": 2}]})),
            "the same key in different objects is fine"
        );
        let in_a_map =
            decode_json::<std::collections::BTreeMap<String, u32>>(br#"{"x": 1, "x": 2}"#);
        assert!(
            matches!(&in_a_map, Err(ApiError::Invalid { field, .. }) if field == "x"),
            "maps keep no last value either: {in_a_map:?}"
        );
    }
}
