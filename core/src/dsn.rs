//! MySQL/MariaDB DSNs: `mysql://user:pass@host:port/db`, or
//! `mysql://user:pass@localhost/db?socket=/path` for a unix socket.
//!
//! Passwords never leave this module in clear: `Display` and `redacted()`
//! mask them by their position in the DSN, so an error message,
//! `var_dump()` or `phpinfo()` built from a `Dsn` cannot leak one.
//!
//! TLS is asked for as the mysql client does: `?ssl-mode=` and `?ssl-ca=`.

use std::{fmt, path::PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    pub user: String,
    password: Option<String>,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    /// A unix socket path (`?socket=`), used instead of TCP.
    pub socket: Option<PathBuf>,
    pub ssl_mode: SslMode,
    /// The CA certificate(s) to verify the server's certificate against
    /// (`?ssl-ca=`, PEM or DER), in addition to the system's.
    pub ssl_ca: Option<PathBuf>,
}

/// The mysql client's `--ssl-mode`, with its meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disabled,
    /// TLS when the server offers it, else plaintext; the certificate is not
    /// verified (the default, as for the mysql client).
    Preferred,
    /// TLS or no connection; the certificate is not verified.
    Required,
    /// TLS, and the certificate must chain to a trusted CA.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host of the DSN.
    VerifyIdentity,
}

impl SslMode {
    const NAMES: [(&'static str, Self); 5] = [
        ("DISABLED", Self::Disabled),
        ("PREFERRED", Self::Preferred),
        ("REQUIRED", Self::Required),
        ("VERIFY_CA", Self::VerifyCa),
        ("VERIFY_IDENTITY", Self::VerifyIdentity),
    ];

    /// Reads a mode as the mysql client does, in any case.
    fn parse(text: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)).map(|&(_, mode)| mode)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(_, mode)| *mode == self).map_or("", |(name, _)| name)
    }

    /// Whether the server's certificate is checked against trusted CAs.
    #[must_use]
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyIdentity)
    }
}

impl Dsn {
    pub const DEFAULT_PORT: u16 = 3306;

    /// Parses a DSN.
    ///
    /// # Errors
    ///
    /// A message that says what is wrong, never quoting the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.contains('\0') {
            return Err("must not contain any null bytes".into());
        }
        let rest = text
            .strip_prefix("mysql://")
            .or_else(|| text.strip_prefix("mariadb://"))
            .ok_or("must start with \"mysql://\" (mysql://user:password@host:port/database)")?;
        // Passwords are often written unencoded and may contain '/', '?',
        // ':' or '@'; the host part never contains '@'. So the credentials
        // end at the last '@', and only then do '/' and '?' delimit. But a
        // parameter's path may hold an '@' too (`ssl-ca=/etc/x@y/ca.pem`),
        // and then the last '@' would make its tail the host, and send the
        // credentials there: when the first '@' after which a host could
        // begin is another one, the DSN reads two ways, and is refused.
        let last_at = rest.rfind('@');
        let first_possible_host = rest.match_indices('@').map(|(at, _)| at).find(|&at| {
            let location = &rest[at + 1..];
            !location[..location.find(['/', '?']).unwrap_or(location.len())].contains('@')
        });
        if first_possible_host != last_at {
            return Err("has several '@' and reads two ways (is one in a parameter's path?): write each '@' of the \
                        user, the password or a parameter as %40"
                .into());
        }
        let (credentials, location) = rest.rsplit_once('@').map_or((None, rest), |(c, l)| (Some(c), l));
        let (location, query) = location.split_once('?').map_or((location, None), |(l, q)| (l, Some(q)));
        let (host_port, path) = location.split_once('/').map_or((location, ""), |(h, p)| (h, p));
        let (user, password) = match credentials {
            None => (String::new(), None),
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (decode(u, "user")?, Some(decode(p, "password")?)),
                None => (decode(c, "user")?, None),
            },
        };
        let (host, port) = split_host_port(host_port)?;
        let database = (!path.is_empty()).then(|| decode(path, "database")).transpose()?;
        let mut socket = None;
        let mut ssl_mode = None;
        let mut ssl_ca = None;
        let mut given: Vec<&str> = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !matches!(key, "socket" | "ssl-mode" | "ssl-ca") {
                return Err(format!(
                    "has an unknown parameter \"{}\"; the ones accepted are \"socket\", \"ssl-mode\" and \"ssl-ca\"",
                    key.escape_debug()
                ));
            }
            // The last would win: `?ssl-mode=VERIFY_IDENTITY&ssl-mode=DISABLED`
            // reads as verified to whoever checks the start of the line.
            if given.contains(&key) {
                return Err(format!("gives \"{key}\" more than once"));
            }
            given.push(key);
            if value.is_empty() {
                return Err(format!("has an empty \"{key}\""));
            }
            match key {
                "socket" => socket = Some(PathBuf::from(decode(value, "socket")?)),
                "ssl-ca" => ssl_ca = Some(PathBuf::from(decode(value, "ssl-ca")?)),
                _ => {
                    ssl_mode = Some(SslMode::parse(&decode(value, "ssl-mode")?).ok_or_else(|| {
                        // Not quoted: after a malformed password, this may be a piece of it.
                        "has an unknown ssl-mode; valid ones are DISABLED, PREFERRED, REQUIRED, VERIFY_CA \
                         and VERIFY_IDENTITY"
                            .to_owned()
                    })?);
                }
            }
        }
        if host.is_empty() && socket.is_none() {
            return Err("names no host (mysql://user:password@host:port/database)".into());
        }
        // As the mysql client: a CA given without a mode means "verify against it".
        let ssl_mode = match (ssl_mode, &ssl_ca) {
            (None, Some(_)) => SslMode::VerifyCa,
            (None, None) => SslMode::Preferred,
            (Some(mode), Some(_)) if !mode.verifies() => {
                return Err(format!(
                    "has ssl-ca with ssl-mode {}, which does not verify certificates: use VERIFY_CA or VERIFY_IDENTITY",
                    mode.as_str()
                ))
            }
            (Some(mode), _) => mode,
        };
        // The client library never uses TLS over a unix socket: a DSN asking
        // for it there must not silently get plaintext.
        if socket.is_some() && !matches!(ssl_mode, SslMode::Disabled | SslMode::Preferred) {
            return Err(format!(
                "asks for ssl-mode {} over a unix socket: TLS is used over TCP only",
                ssl_mode.as_str()
            ));
        }
        Ok(Self { user, password, host, port, database, socket, ssl_mode, ssl_ca })
    }

    #[must_use]
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Where the server is, for messages: `host:port` or the socket path.
    #[must_use]
    pub fn server(&self) -> String {
        match &self.socket {
            Some(socket) => format!("unix socket {}", socket.display()),
            None if self.host.contains(':') => format!("[{}]:{}", self.host, self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}

/// The DSN with its password replaced by `****`; shown everywhere a DSN is.
impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mysql://")?;
        if !self.user.is_empty() || self.password.is_some() {
            write!(f, "{}", self.user)?;
            if self.password.is_some() {
                write!(f, ":****")?;
            }
            write!(f, "@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if self.port != Self::DEFAULT_PORT {
            write!(f, ":{}", self.port)?;
        }
        if let Some(db) = &self.database {
            write!(f, "/{db}")?;
        }
        let mut separator = '?';
        let mut parameter = |f: &mut fmt::Formatter<'_>, key: &str, value: &dyn fmt::Display| {
            let written = write!(f, "{separator}{key}={value}");
            separator = '&';
            written
        };
        if let Some(socket) = &self.socket {
            parameter(f, "socket", &socket.display())?;
        }
        // The default mode, and the one a CA implies, go without saying.
        if self.ssl_mode != SslMode::Preferred && !(self.ssl_mode == SslMode::VerifyCa && self.ssl_ca.is_some()) {
            parameter(f, "ssl-mode", &self.ssl_mode.as_str())?;
        }
        if let Some(ca) = &self.ssl_ca {
            parameter(f, "ssl-ca", &ca.display())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({self})")
    }
}

/// Masks the password of any DSN-looking text, parseable or not, for
/// displays that must show something (`phpinfo()`).
#[must_use]
pub fn redact(text: &str) -> String {
    if let Ok(dsn) = Dsn::parse(text) {
        return dsn.to_string();
    }
    // Credentials end at the last '@': without one there is no password.
    let Some((credentials, tail)) = text.rsplit_once('@') else { return text.to_owned() };
    // Without a recognisable scheme nothing tells where the password starts:
    // show nothing rather than guess.
    let Some((scheme, credentials)) = credentials.split_once("://") else { return "****".to_owned() };
    let user = credentials.split(':').next().unwrap_or("");
    let mask = if credentials.contains(':') { ":****" } else { "" };
    format!("{scheme}://{user}{mask}@{tail}")
}

fn split_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("has an unclosed '[' in its host")?;
        // `[::1]3307` or `[::1]x:3307` dropped what followed the bracket,
        // port included, and connected to 3306.
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("has something other than \":port\" after its [host]")?),
        };
        (host, port)
    } else {
        text.rsplit_once(':').map_or((text, None), |(h, p)| (h, Some(p)))
    };
    let port = match port {
        None => Dsn::DEFAULT_PORT,
        // Digits only: `parse` also takes a leading `+`. Not quoted: a
        // malformed DSN may have put part of the password here.
        Some(p) => Some(p)
            .filter(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|&p| p != 0)
            .ok_or("has an invalid port (1 to 65535 expected)")?,
    };
    Ok((decode(host, "host")?, port))
}

/// Percent-decoding, so users can write `p%40ss` for a password with '@'.
fn decode(text: &str, part: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits: `from_str_radix` also takes `+1`.
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            let byte = hex
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                .ok_or(format!("has a bad %-escape in its {part}"))?;
            if byte == 0 {
                return Err(format!("has a null byte in its {part}"));
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("has a {part} that is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_dsns() {
        let dsn = Dsn::parse("mysql://app:s3cr%40t@db.example:3307/locks").unwrap();
        assert_eq!(
            (dsn.user.as_str(), dsn.password(), dsn.host.as_str(), dsn.port),
            ("app", Some("s3cr@t"), "db.example", 3307)
        );
        assert_eq!(dsn.database.as_deref(), Some("locks"));
        assert_eq!(dsn.server(), "db.example:3307");
        let dsn = Dsn::parse("mysql://root@[::1]/").unwrap();
        assert_eq!((dsn.host.as_str(), dsn.port, dsn.password()), ("::1", 3306, None));
        assert_eq!(dsn.server(), "[::1]:3306");
    }

    #[test]
    fn passwords_may_contain_at_signs_colons_slashes_and_question_marks() {
        let dsn = Dsn::parse("mysql://u:p@ss:w0rd@127.0.0.1").unwrap();
        assert_eq!(dsn.password(), Some("p@ss:w0rd"));
        assert_eq!(dsn.host, "127.0.0.1");
        let dsn = Dsn::parse("mysql://u:Ab/Cd?3f@G@db.example:3307/app?socket=/s").unwrap();
        assert_eq!((dsn.password(), dsn.host.as_str(), dsn.port), (Some("Ab/Cd?3f@G"), "db.example", 3307));
        assert_eq!(dsn.database.as_deref(), Some("app"));
    }

    /// An '@' in a parameter's path used to end the credentials, making the
    /// path's tail the host: the credentials went there, and `ssl-mode`
    /// with them. A DSN that reads two ways is refused, never guessed.
    #[test]
    fn an_at_sign_that_could_end_the_credentials_twice_is_refused() {
        for ambiguous in [
            "mysql://u:hunter2@127.0.0.1:3306/?ssl-mode=VERIFY_CA&ssl-ca=/etc/x@evil:3306/ca.pem",
            "mysql://u:hunter2@localhost/?socket=/run/x@y/mysqld.sock",
            "mysql://u:hun@ter/2@db.example/app",
        ] {
            let e = Dsn::parse(ambiguous).unwrap_err();
            assert!(e.contains("%40") && !e.contains("hunter") && !e.contains("ter/2"), "{e}");
            assert!(!redact(ambiguous).contains("hunter2"), "{}", redact(ambiguous));
        }
        let dsn = Dsn::parse("mysql://u:hunter2@127.0.0.1:3306/?ssl-ca=/etc/x%40evil/ca.pem").unwrap();
        assert_eq!((dsn.host.as_str(), dsn.port, dsn.ssl_mode), ("127.0.0.1", 3306, SslMode::VerifyCa));
        assert_eq!(dsn.ssl_ca.as_deref(), Some(std::path::Path::new("/etc/x@evil/ca.pem")));
    }

    #[test]
    fn parses_socket_dsns() {
        let dsn = Dsn::parse("mysql://u:pw@localhost/db?socket=/run/mysqld/mysqld.sock").unwrap();
        assert_eq!(dsn.socket.as_deref(), Some(std::path::Path::new("/run/mysqld/mysqld.sock")));
        assert_eq!(dsn.server(), "unix socket /run/mysqld/mysqld.sock");
    }

    #[test]
    fn display_and_errors_never_show_the_password() {
        let dsn = Dsn::parse("mysql://app:hunter2@db:3307/x?socket=/s").unwrap();
        assert_eq!(dsn.to_string(), "mysql://app:****@db:3307/x?socket=/s");
        assert!(!format!("{dsn:?}").contains("hunter2"));
        for bad in [
            "mysql://app:hunter2@db:99999/x",
            "mysql://app:hunter2@db/x?sslmode=1",
            "mysql://app:hunter2@db/x?ssl-mode=bogus",
            "mysql://app:hunter2@/x",
            "postgres://app:hunter2@db/x",
            "mysql://app:hunter2%zz@db/x",
            "mysql://app:hunter2@db/x%00y",
            "mysql://app:hunter2@d\0b/x",
            "mysql://app:hun/ter2@db:x/y",
            "mysql://app:hunter2:99@",
        ] {
            let e = Dsn::parse(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(!redact(bad).contains("hunter2"), "{}", redact(bad));
        }
        assert_eq!(redact("mysql://app:hunter2@db:99999"), "mysql://app:****@db:99999");
        assert_eq!(redact("mysql:/app:hunter2@db"), "****");
        assert_eq!(redact("no credentials here"), "no credentials here");
    }

    #[test]
    fn parses_ssl_modes_as_the_mysql_client() {
        let mode = |dsn: &str| Dsn::parse(dsn).map(|d| (d.ssl_mode, d.ssl_ca));
        assert_eq!(mode("mysql://u@db").unwrap(), (SslMode::Preferred, None));
        for (text, expected) in [
            ("disabled", SslMode::Disabled),
            ("PREFERRED", SslMode::Preferred),
            ("Required", SslMode::Required),
            ("VERIFY_CA", SslMode::VerifyCa),
            ("verify_identity", SslMode::VerifyIdentity),
        ] {
            assert_eq!(mode(&format!("mysql://u@db?ssl-mode={text}")).unwrap().0, expected);
        }
        let ca = Some(PathBuf::from("/etc/ca.pem"));
        assert_eq!(mode("mysql://u@db?ssl-ca=/etc/ca.pem").unwrap(), (SslMode::VerifyCa, ca.clone()));
        assert_eq!(
            mode("mysql://u@db?ssl-ca=/etc/ca.pem&ssl-mode=VERIFY_IDENTITY").unwrap(),
            (SslMode::VerifyIdentity, ca)
        );
        let e = mode("mysql://u:pw@db?ssl-mode=VERIFY").unwrap_err();
        assert_eq!(
            e,
            "has an unknown ssl-mode; valid ones are DISABLED, PREFERRED, REQUIRED, VERIFY_CA and VERIFY_IDENTITY"
        );
        assert!(mode("mysql://u@db?ssl-mode=REQUIRED&ssl-ca=/ca")
            .unwrap_err()
            .contains("does not verify certificates"));
        assert!(mode("mysql://u@db?ssl-mode=DISABLED&ssl-ca=/ca").is_err());
        assert!(mode("mysql://u@localhost?socket=/s&ssl-mode=REQUIRED").unwrap_err().contains("over TCP only"));
        assert_eq!(mode("mysql://u@localhost?socket=/s&ssl-mode=DISABLED").unwrap().0, SslMode::Disabled);
    }

    /// A review's finds: `[127.0.0.1]x:29675` connected to port 3306, and
    /// `+29675` or `%+1` passed as a port and an escape.
    #[test]
    fn anything_but_a_port_after_a_bracketed_host_and_signs_in_numbers_are_refused() {
        for dsn in ["mysql://u@[127.0.0.1]x:29675/", "mysql://u@[::1]3307/", "mysql://u@[::1]:/"] {
            assert!(Dsn::parse(dsn).is_err(), "{dsn}");
        }
        assert_eq!(Dsn::parse("mysql://u@[::1]:3307/").unwrap().port, 3307);
        for port in ["+29675", "-1", "0000029675", " 1", "0"] {
            let e = Dsn::parse(&format!("mysql://u@db:{port}/")).unwrap_err();
            assert_eq!(e, "has an invalid port (1 to 65535 expected)", "{port}");
        }
        assert_eq!(Dsn::parse("mysql://u@db:03306/").unwrap().port, 3306);
        assert_eq!(Dsn::parse("mysql://u:%+1@db/").unwrap_err(), "has a bad %-escape in its password");
        assert_eq!(Dsn::parse("mysql://u:%4a@db/").unwrap().password(), Some("J"));
    }

    #[test]
    fn parameters_given_twice_or_empty_are_refused() {
        let e = Dsn::parse("mysql://u:pw@db/x?ssl-mode=VERIFY_IDENTITY&ssl-mode=DISABLED").unwrap_err();
        assert_eq!(e, "gives \"ssl-mode\" more than once");
        assert_eq!(Dsn::parse("mysql://u@db/x?ssl-ca=/a&ssl-ca=/b").unwrap_err(), "gives \"ssl-ca\" more than once");
        for key in ["socket", "ssl-ca", "ssl-mode"] {
            assert_eq!(Dsn::parse(&format!("mysql://u@db/x?{key}=")).unwrap_err(), format!("has an empty \"{key}\""));
            assert_eq!(Dsn::parse(&format!("mysql://u@db/x?{key}")).unwrap_err(), format!("has an empty \"{key}\""));
        }
        assert!(Dsn::parse("mysql://u@db/x?sock=/s").unwrap_err().starts_with("has an unknown parameter \"sock\""));
    }

    #[test]
    fn ssl_parameters_are_shown_when_they_are_not_the_default() {
        let shown = |dsn: &str| Dsn::parse(dsn).unwrap().to_string();
        assert_eq!(shown("mysql://u:pw@db?ssl-mode=preferred"), "mysql://u:****@db");
        assert_eq!(shown("mysql://u:pw@db?ssl-mode=required"), "mysql://u:****@db?ssl-mode=REQUIRED");
        assert_eq!(shown("mysql://u:pw@db?ssl-ca=/ca.pem"), "mysql://u:****@db?ssl-ca=/ca.pem");
        assert_eq!(
            shown("mysql://u:pw@db?ssl-ca=/ca.pem&ssl-mode=VERIFY_IDENTITY"),
            "mysql://u:****@db?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem"
        );
        assert_eq!(
            shown("mysql://u@localhost?ssl-mode=DISABLED&socket=/s"),
            "mysql://u@localhost?socket=/s&ssl-mode=DISABLED"
        );
        // What Display shows parses back to the same DSN.
        let dsn = Dsn::parse("mysql://u@db:3307/x?ssl-ca=/ca.pem&ssl-mode=VERIFY_IDENTITY").unwrap();
        assert_eq!(Dsn::parse(&dsn.to_string()).unwrap(), dsn);
    }

    #[test]
    fn masks_are_positional_and_the_same_for_every_password() {
        // A one-character password that also occurs in the host and the port.
        let dsn = Dsn::parse("mysql://u1:1@127.0.0.1:3311/db1").unwrap();
        assert_eq!(dsn.to_string(), "mysql://u1:****@127.0.0.1:3311/db1");
        let long = Dsn::parse("mysql://u1:a-much-longer-password@127.0.0.1:3311/db1").unwrap();
        assert_eq!(long.to_string(), dsn.to_string());
        assert_eq!(redact("mysql://u1:1@127.0.0.1:3311/db1"), "mysql://u1:****@127.0.0.1:3311/db1");
        assert_eq!(redact("mysql://u1:1@127.0.0.1:0/db1"), "mysql://u1:****@127.0.0.1:0/db1");
        let empty = Dsn::parse("mysql://u1:@127.0.0.1/").unwrap();
        assert_eq!(empty.to_string(), "mysql://u1:****@127.0.0.1");
    }
}
