//! The few W3C WebDriver commands the browser test uses, over the HTTP
//! client aspen already depends on (https://www.w3.org/TR/webdriver2/).
//! A WebDriver crate would pull its own URL, Unicode and cookie stacks into
//! the test build, and with them other features of crates the release
//! binary shares — recompiling most of the dependency graph for `cargo
//! test --release`. These ten commands are all the test needs.

use serde_json::{Value, json};

/// W3C: the key of a web element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub enum Locator<'a> {
    Css(&'a str),
    Id(&'a str),
}

/// A browser session.
pub struct Client {
    http: reqwest::Client,
    base: String,
}

pub struct Element<'c> {
    client: &'c Client,
    id: String,
}

/// A WebDriver error: its `error` code and message.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, Error>;

/// The `value` of a WebDriver answer, or its error.
async fn value(res: reqwest::Result<reqwest::Response>) -> Result<Value> {
    let res = res.map_err(|e| Error(format!("webdriver: {e}")))?;
    let body: Value = res
        .json()
        .await
        .map_err(|e| Error(format!("webdriver: {e}")))?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    match value.get("error").and_then(Value::as_str) {
        Some(code) => Err(Error(format!(
            "{code}: {}",
            value.get("message").and_then(Value::as_str).unwrap_or("")
        ))),
        None => Ok(value),
    }
}

impl Client {
    /// A new session at the driver `url` with these capabilities.
    pub async fn connect(url: &str, capabilities: Value) -> Result<Client> {
        let http = reqwest::Client::new();
        let v = value(
            http.post(format!("{url}/session"))
                .json(&json!({ "capabilities": { "alwaysMatch": capabilities } }))
                .send()
                .await,
        )
        .await?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| Error(format!("no sessionId in {v}")))?;
        Ok(Client {
            http,
            base: format!("{url}/session/{id}"),
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        value(
            self.http
                .post(format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await,
        )
        .await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        value(self.http.get(format!("{}{path}", self.base)).send().await).await
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    pub async fn current_url(&self) -> Result<url::Url> {
        let v = self.get("/url").await?;
        url::Url::parse(v.as_str().unwrap_or_default()).map_err(|e| Error(e.to_string()))
    }

    pub async fn find(&self, locator: Locator<'_>) -> Result<Element<'_>> {
        let css = match locator {
            Locator::Css(css) => css.to_owned(),
            Locator::Id(id) => format!("#{id}"),
        };
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await?;
        let id = v[ELEMENT]
            .as_str()
            .ok_or_else(|| Error(format!("{css}: no element in {v}")))?;
        Ok(Element {
            client: self,
            id: id.to_owned(),
        })
    }

    /// Runs `script` in the page; its return value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        use base64::Engine;
        let v = self.get("/screenshot").await?;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| Error(e.to_string()))
    }

    /// Ends the session (and closes the browser).
    pub async fn close(&self) -> Result<()> {
        value(self.http.delete(&self.base).send().await)
            .await
            .map(drop)
    }
}

impl Element<'_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}/{what}", self.id)
    }

    pub async fn click(&self) -> Result<()> {
        self.client
            .post(&self.path("click"), json!({}))
            .await
            .map(drop)
    }

    pub async fn send_keys(&self, text: &str) -> Result<()> {
        self.client
            .post(&self.path("value"), json!({ "text": text }))
            .await
            .map(drop)
    }

    pub async fn text(&self) -> Result<String> {
        let v = self.client.get(&self.path("text")).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }
}
