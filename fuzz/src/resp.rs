//! A small RESP2/RESP3 writer, to build server replies of known content that the redis crate's
//! parser then reads back (as off a socket).

/// How a string-ish reply element is spelled on the wire.
#[derive(Debug, Clone, Copy, arbitrary::Arbitrary)]
pub enum StrStyle {
    Bulk,
    Simple,
    Verbatim,
}

#[derive(Default)]
pub struct Writer {
    pub resp3: bool,
    pub out: Vec<u8>,
}

impl Writer {
    pub fn new(resp3: bool) -> Self {
        Self {
            resp3,
            out: Vec::new(),
        }
    }

    fn line(&mut self, prefix: u8, body: &str) -> &mut Self {
        self.out.push(prefix);
        self.out.extend_from_slice(body.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self
    }

    pub fn bulk(&mut self, b: &[u8]) -> &mut Self {
        self.line(b'$', &b.len().to_string());
        self.out.extend_from_slice(b);
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// A string without CR/LF in the given style (verbatim only in RESP3; bulk otherwise).
    pub fn text(&mut self, s: &str, style: StrStyle) -> &mut Self {
        match style {
            StrStyle::Simple if !s.contains(['\r', '\n']) => self.line(b'+', s),
            StrStyle::Verbatim if self.resp3 => {
                self.line(b'=', &(s.len() + 4).to_string());
                self.out.extend_from_slice(b"txt:");
                self.out.extend_from_slice(s.as_bytes());
                self.out.extend_from_slice(b"\r\n");
                self
            }
            _ => self.bulk(s.as_bytes()),
        }
    }

    pub fn int(&mut self, i: i64) -> &mut Self {
        self.line(b':', &i.to_string())
    }

    pub fn nil(&mut self) -> &mut Self {
        if self.resp3 {
            self.line(b'_', "")
        } else {
            self.line(b'*', "-1")
        }
    }

    pub fn array(&mut self, n: usize) -> &mut Self {
        self.line(b'*', &n.to_string())
    }

    /// A map header in RESP3; the flat array header of `n` pairs in RESP2.
    pub fn map(&mut self, n: usize) -> &mut Self {
        if self.resp3 {
            self.line(b'%', &n.to_string())
        } else {
            self.array(2 * n)
        }
    }
}

/// `XREAD … STREAMS <key> <id>` with one entry of the given fields.
pub fn xread_reply(resp3: bool, key: &[u8], id: &str, fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut w = Writer::new(resp3);
    if resp3 {
        w.map(1).bulk(key);
    } else {
        w.array(1).array(2).bulk(key);
    }
    w.array(1)
        .array(2)
        .bulk(id.as_bytes())
        .array(2 * fields.len());
    for (k, v) in fields {
        w.bulk(k).bulk(v);
    }
    w.out
}
