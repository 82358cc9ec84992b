//! A restricted unpickler: it rebuilds the object graph of a pickle as plain data
//! and never imports, calls or trusts anything. Classes stay names; the only callables it
//! interprets are the tensor rebuilders (`torch._utils._rebuild_tensor_v2`,
//! `_rebuild_parameter`) and `collections.OrderedDict`, and those only as data.

use std::collections::HashMap;

/// A pickled value. Scalars and class names are parsed in full (so a malformed pickle is
/// detected) although only tensors and their containers are used.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// `bytes` (or a protocol-2 `str` read as bytes).
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict, its items in order.
    Dict(Vec<(Value, Value)>),
    /// A class or function named by `module.name`, never resolved.
    Global(String),
    /// An instance of a named class: the arguments it was made with and its `BUILD` state.
    Object {
        /// `module.name` of the class.
        class: String,
        /// Arguments of its construction (`REDUCE`, `NEWOBJ`).
        args: Vec<Value>,
        /// What `BUILD` set, if anything.
        state: Option<Box<Value>>,
    },
    /// A persistent storage reference (`torch.HalfStorage`, key `"0"`, …).
    Storage {
        /// Storage class, e.g. `torch.HalfStorage`.
        class: String,
        /// Its key: the archive member `data/<key>`.
        key: String,
    },
    /// A tensor view of a storage.
    Tensor(TensorRef),
    /// The stack marker `MARK` pushes (never left in a parsed result).
    Mark,
}

/// Where a tensor's elements are: a view of a storage.
#[derive(Debug, Clone)]
pub struct TensorRef {
    /// Storage class, e.g. `torch.HalfStorage`.
    pub storage_class: String,
    /// Storage key: the archive member `data/<key>`.
    pub key: String,
    /// Offset in elements.
    pub offset: usize,
    /// Size of each dimension.
    pub shape: Vec<usize>,
    /// Elements between neighbours along each dimension.
    pub stride: Vec<usize>,
}

/// Parses a pickle; `Err` describes the first problem (truncation, unknown opcode …).
pub fn parse(data: &[u8]) -> Result<Value, String> {
    let mut p = Parser {
        data,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    p.run()
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl Parser<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("pickle ends unexpectedly at byte {}", self.pos))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated line in pickle")?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn string(&mut self, n: usize) -> Result<Value, String> {
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec())
            .map(Value::Str)
            .map_err(|_| "invalid UTF-8 string in pickle".to_string())
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }

    /// Items above the topmost mark, removing the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("pickle MARK missing")?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items)
    }

    fn run(&mut self) -> Result<Value, String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.u64()?; // FRAME
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Value::Mark),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                0x8f => self.stack.push(Value::List(Vec::new())), // EMPTY_SET
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("pickle stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?;
                    if n > 8 {
                        return Err("pickle integer too large".into());
                    }
                    let mut buf = [0u8; 8];
                    buf[..n].copy_from_slice(bytes);
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        buf[n..].fill(0xff);
                    }
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).map_err(|_| "string too long")?;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(v));
                }
                b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    let v = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(v));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(format!("{module}.{name}")));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => {
                            self.stack.push(Value::Global(format!("{m}.{n}")))
                        }
                        _ => return Err("STACK_GLOBAL without strings".into()),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = reduce(callable, args)?;
                    self.stack.push(v);
                }
                0x81 => {
                    let args = match self.pop()? {
                        Value::Tuple(items) => items,
                        _ => Vec::new(),
                    };
                    let class = match self.pop()? {
                        Value::Global(name) => name,
                        other => return Err(format!("NEWOBJ of a non-class {other:?}")),
                    };
                    self.stack.push(Value::Object {
                        class,
                        args,
                        state: None,
                    });
                }
                b'b' => {
                    let state = self.pop()?;
                    if let Value::Object { state: slot, .. } = self.top()? {
                        *slot = Some(Box::new(state));
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent(pid)?;
                    self.stack.push(v);
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(i, v);
                }
                b'r' => {
                    let i = self.u32()?;
                    let v = self.top()?.clone();
                    self.memo.insert(i, v);
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    let v = self.top()?.clone();
                    self.memo.insert(i, v);
                }
                b'h' | b'j' => {
                    let i = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v = self
                        .memo
                        .get(&i)
                        .cloned()
                        .ok_or_else(|| format!("pickle memo {i} missing"))?;
                    self.stack.push(v);
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    if let Value::Dict(d) = self.top()? {
                        d.push((key, value));
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if let Value::Dict(d) = self.top()? {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.push((k, v));
                        }
                    }
                }
                b'a' => {
                    let item = self.pop()?;
                    if let Value::List(l) = self.top()? {
                        l.push(item);
                    }
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    if let Value::List(l) = self.top()? {
                        l.extend(items);
                    }
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at byte {}",
                        self.pos - 1
                    ));
                }
            }
        }
    }
}

fn int(v: &Value) -> Option<usize> {
    match v {
        Value::Int(i) => usize::try_from(*i).ok(),
        _ => None,
    }
}

fn ints(v: &Value) -> Option<Vec<usize>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().map(int).collect(),
        _ => None,
    }
}

/// `callable(*args)` for the few callables that rebuild data; anything else stays a name.
fn reduce(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Global(name) = callable else {
        return Err("REDUCE of a non-global callable".into());
    };
    let args = match args {
        Value::Tuple(items) => items,
        _ => Vec::new(),
    };
    match name.as_str() {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let bad = || format!("malformed {name} arguments");
            let (storage_class, key) = match args.first() {
                Some(Value::Storage { class, key }) => (class.clone(), key.clone()),
                _ => return Err(bad()),
            };
            Ok(Value::Tensor(TensorRef {
                storage_class,
                key,
                offset: args.get(1).and_then(int).ok_or_else(bad)?,
                shape: args.get(2).and_then(ints).ok_or_else(bad)?,
                stride: args.get(3).and_then(ints).ok_or_else(bad)?,
            }))
        }
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => args
            .into_iter()
            .next()
            .ok_or_else(|| format!("malformed {name} arguments")),
        "collections.OrderedDict" => Ok(Value::Dict(Vec::new())),
        // How Python 3 writes `bytes` under protocol 2: `_codecs.encode(text, "latin1")`.
        "_codecs.encode" => match args.as_slice() {
            [Value::Str(text), Value::Str(codec)] if codec == "latin1" || codec == "latin-1" => {
                text.chars()
                    .map(|c| u8::try_from(u32::from(c)).ok())
                    .collect::<Option<Vec<u8>>>()
                    .map(Value::Bytes)
                    .ok_or_else(|| "a latin1 string outside latin1".to_string())
            }
            _ => Ok(Value::Object {
                class: name,
                args,
                state: None,
            }),
        },
        _ => Ok(Value::Object {
            class: name,
            args,
            state: None,
        }),
    }
}

/// `("storage", <storage class>, key, location, numel)` → a storage reference.
fn persistent(pid: Value) -> Result<Value, String> {
    let Value::Tuple(items) = pid else {
        return Err("persistent id is not a tuple".into());
    };
    match items.as_slice() {
        [Value::Str(kind), Value::Global(class), Value::Str(key), ..] if kind == "storage" => {
            Ok(Value::Storage {
                class: class.clone(),
                key: key.clone(),
            })
        }
        _ => Err("unsupported persistent id".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_truncation_and_unknown_opcodes() {
        assert!(parse(b"\x80\x02}q\x00(X\x01\x00\x00").is_err());
        assert!(parse(b"\xff").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn globals_are_names_not_calls() {
        // os.system("x") as a pickle: GLOBAL, string, TUPLE1, REDUCE, STOP.
        let evil = b"cos\nsystem\nX\x01\x00\x00\x00x\x85R.";
        match parse(evil).unwrap() {
            Value::Object { class, .. } => assert_eq!(class, "os.system"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dicts_lists_and_ints() {
        // {"a": [1, -2, 300]} with protocol 2 opcodes.
        let p = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM,\x01es.";
        let Value::Dict(d) = parse(p).unwrap() else {
            panic!()
        };
        assert!(matches!(&d[0].0, Value::Str(s) if s == "a"));
        let Value::List(l) = &d[0].1 else { panic!() };
        assert!(matches!(
            l.as_slice(),
            [Value::Int(1), Value::Int(-2), Value::Int(300)]
        ));
    }
}
