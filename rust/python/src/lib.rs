//! `pcaptls._core`: the Rust engine, seen from Python.
//!
//! `Scan(path, share, shares)` scans one share of one capture on a thread of its own, with the GIL
//! released, and hands Python batches of finished connections as `pcaptls.tls.model.TlsConnection`
//! objects (built here, so Python does no per-connection parsing). Iterating it yields lists;
//! `summary()` afterwards gives the read statistics and counters. A panic in the core (there
//! should be none: the fuzz targets look for them) never reaches Python as a panic: the scan
//! stops there and `summary()["truncated"]` says so, keeping everything found before.

use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;
use std::thread;

use foldhash::{HashMap, HashMapExt};
use pcaptls_core::capture::FrameReader;
use pcaptls_core::model::{ConnResult, Ip, Role, Sealed};
use pcaptls_core::scan::{Scanner, Summary};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

const BATCH_FRAMES: u64 = 1 << 14; // frames between batches: keeps Python fed on small captures
const BATCH_CONNS: usize = 256;
const CHANNEL: usize = 4; // batches in flight: at most 1,024 connections wait for Python

enum Msg {
    Batch(Vec<ConnResult>, u64),
    Done(Box<Summary>, Option<String>),
}

/// A certificate chain as a cache key: equal when the DER is, hashed by the number of
/// certificates and each one's length and last 32 bytes (its signature, as good as random)
/// rather than by all of it: hashing a chain's few kilobytes with SipHash for every connection
/// was about 7% of building the connections.
#[derive(PartialEq, Eq)]
struct ChainKey(Vec<Vec<u8>>);

impl Hash for ChainKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_usize(self.0.len());
        for der in &self.0 {
            h.write_usize(der.len());
            h.write(&der[der.len().saturating_sub(32)..]);
        }
    }
}

/// The classes of pcaptls.tls.model (pcaptls.tcp.facts for endpoints and anomalies) and the
/// caches that make one Python object per distinct value. The caches hash with foldhash: several
/// times faster than the standard SipHash on these short keys, and seeded per process as
/// SipHash is, since the keys (SNI, cipher lists, certificates) are whatever a capture holds.
struct Builder {
    /// Each class as `object.__new__`'s arguments, `(cls,)`: made once, not for every object.
    conn: Py<PyTuple>,
    endpoint: Py<PyTuple>,
    alert: Py<PyTuple>,
    event: Py<PyTuple>,
    anomaly: Py<PyTuple>,
    ip_address: PyObject,
    ips: HashMap<Ip, PyObject>,
    servers: HashMap<(Ip, u16), PyObject>,
    lists: HashMap<Vec<u32>, PyObject>,
    strs: HashMap<Vec<String>, PyObject>,
    chains: HashMap<ChainKey, PyObject>,
    texts: HashMap<String, PyObject>,
    client: PyObject,
    server: PyObject,
    /// `pcaptls.tls.sealed.Sealed` and `SealedRecord`, for scans that keep encrypted records.
    sealed: PyObject,
    sealed_record: PyObject,
    /// `object.__new__`, and each class's field setters (see [`Builder::make`]).
    new: PyObject,
    conn_fields: Vec<PyObject>,
    endpoint_fields: Vec<PyObject>,
    alert_fields: Vec<PyObject>,
    event_fields: Vec<PyObject>,
    anomaly_fields: Vec<PyObject>,
}

const SHARED_MAX: usize = 4096; // as pcaptls.tls.handshake._SHARED_MAX

impl Builder {
    fn new(py: Python<'_>) -> PyResult<Builder> {
        let model = py.import("pcaptls.tls.model")?;
        let facts = py.import("pcaptls.tcp.facts")?;
        let ipaddress = py.import("ipaddress")?;
        let sealed = py.import("pcaptls.tls.sealed")?;
        let builtins = py.import("builtins")?;
        let object = builtins.getattr("object")?;
        let dataclass_fields = py.import("dataclasses")?.getattr("fields")?;
        let names = |cls: &Bound<'_, PyAny>| -> PyResult<Vec<PyObject>> {
            dataclass_fields
                .call1((cls,))?
                .try_iter()?
                .map(|f| {
                    let name = f?.getattr("name")?;
                    Ok(cls
                        .getattr("__dict__")?
                        .get_item(name)?
                        .getattr("__set__")?
                        .unbind())
                })
                .collect()
        };
        Ok(Builder {
            new: object.getattr("__new__")?.unbind(),
            conn_fields: names(&model.getattr("TlsConnection")?)?,
            endpoint_fields: names(&facts.getattr("Endpoint")?)?,
            alert_fields: names(&model.getattr("Alert")?)?,
            event_fields: names(&model.getattr("HandshakeEvent")?)?,
            anomaly_fields: names(&facts.getattr("Anomaly")?)?,
            conn: PyTuple::new(py, [model.getattr("TlsConnection")?])?.unbind(),
            endpoint: PyTuple::new(py, [facts.getattr("Endpoint")?])?.unbind(),
            alert: PyTuple::new(py, [model.getattr("Alert")?])?.unbind(),
            event: PyTuple::new(py, [model.getattr("HandshakeEvent")?])?.unbind(),
            anomaly: PyTuple::new(py, [facts.getattr("Anomaly")?])?.unbind(),
            ip_address: ipaddress.getattr("ip_address")?.unbind(),
            ips: HashMap::new(),
            servers: HashMap::new(),
            lists: HashMap::new(),
            strs: HashMap::new(),
            chains: HashMap::new(),
            texts: HashMap::new(),
            client: PyString::intern(py, "client").into_any().unbind(),
            server: PyString::intern(py, "server").into_any().unbind(),
            sealed: sealed.getattr("Sealed")?.unbind(),
            sealed_record: sealed.getattr("SealedRecord")?.unbind(),
        })
    }

    /// An instance of the frozen, slotted dataclass in `cls` (`(cls,)`) with every field set, in field order, to
    /// `values`: what `cls(*values)` makes, without running its Python `__init__` (a frozen
    /// class's sets each field through `object.__setattr__`, in bytecode: half the cost of
    /// building a storm's connections). `setters` are the `__set__` of the class's slot
    /// descriptors, from [`Builder::new`]; the classes have no `__post_init__`.
    fn make(
        &self,
        py: Python<'_>,
        cls: &Py<PyTuple>,
        setters: &[PyObject],
        values: Vec<PyObject>,
    ) -> PyResult<PyObject> {
        if values.len() != setters.len() {
            return Err(PyRuntimeError::new_err(format!(
                "pcaptls._core: {} values for {} fields",
                values.len(),
                setters.len()
            )));
        }
        // Bound, not PyObject: dropping each call's result (None) is then a plain decref.
        let obj = self.new.bind(py).call1(cls.bind(py))?;
        for (set, value) in setters.iter().zip(values) {
            set.bind(py).call1((&obj, value))?;
        }
        Ok(obj.unbind())
    }

    /// `str(ipaddress.ip_address(raw))`, as the Python engine spells it.
    fn ip(&mut self, py: Python<'_>, ip: Ip) -> PyResult<PyObject> {
        if let [a, b, c, d] = ip.as_slice() {
            // Dotted quad, the one spelling of IPv4; not cached (a storm has a new client
            // address per connection).
            return Ok(PyString::new(py, &format!("{a}.{b}.{c}.{d}"))
                .into_any()
                .unbind());
        }
        if let Some(s) = self.ips.get(&ip) {
            return Ok(s.clone_ref(py));
        }
        // IPv6 spellings differ between Python versions (IPv4-mapped forms): Python says it.
        let s = self
            .ip_address
            .call1(py, (PyBytes::new(py, ip.as_slice()),))?
            .bind(py)
            .str()?
            .into_any()
            .unbind();
        if self.ips.len() < SHARED_MAX {
            self.ips.insert(ip, s.clone_ref(py));
        }
        Ok(s)
    }

    /// A server's endpoint: the same few on thousands of connections, one (frozen) object each.
    fn server(&mut self, py: Python<'_>, end: (Ip, u16)) -> PyResult<PyObject> {
        if let Some(e) = self.servers.get(&end) {
            return Ok(e.clone_ref(py));
        }
        let e = self.endpoint(py, end)?;
        if self.servers.len() < SHARED_MAX {
            self.servers.insert(end, e.clone_ref(py));
        }
        Ok(e)
    }

    fn endpoint(&mut self, py: Python<'_>, end: (Ip, u16)) -> PyResult<PyObject> {
        let ip = self.ip(py, end.0)?;
        let port = end.1.into_pyobject(py)?.into_any().unbind();
        self.make(py, &self.endpoint, &self.endpoint_fields, vec![ip, port])
    }

    fn list(&mut self, py: Python<'_>, v: &[u32]) -> PyResult<PyObject> {
        if let Some(t) = self.lists.get(v) {
            return Ok(t.clone_ref(py));
        }
        let t = PyTuple::new(py, v)?.into_any().unbind();
        if self.lists.len() < SHARED_MAX {
            self.lists.insert(v.to_vec(), t.clone_ref(py));
        }
        Ok(t)
    }

    fn strs(&mut self, py: Python<'_>, v: &[String]) -> PyResult<PyObject> {
        if let Some(t) = self.strs.get(v) {
            return Ok(t.clone_ref(py));
        }
        let t = PyTuple::new(py, v)?.into_any().unbind();
        if self.strs.len() < SHARED_MAX {
            self.strs.insert(v.to_vec(), t.clone_ref(py));
        }
        Ok(t)
    }

    /// A chain as a tuple of bytes; a server sends the same chain every time, so it is made once.
    fn chain(&mut self, py: Python<'_>, v: Vec<Vec<u8>>) -> PyResult<PyObject> {
        if v.is_empty() {
            return Ok(PyTuple::empty(py).into_any().unbind());
        }
        let key = ChainKey(v);
        if let Some(t) = self.chains.get(&key) {
            return Ok(t.clone_ref(py));
        }
        let items: Vec<Bound<'_, PyBytes>> = key.0.iter().map(|d| PyBytes::new(py, d)).collect();
        let t = PyTuple::new(py, items)?.into_any().unbind();
        if self.chains.len() < SHARED_MAX {
            self.chains.insert(key, t.clone_ref(py));
        }
        Ok(t)
    }

    /// "client" / "server", one str object each for the whole scan.
    fn role(&self, py: Python<'_>, r: Role) -> PyObject {
        match r {
            Role::Client => self.client.clone_ref(py),
            Role::Server => self.server.clone_ref(py),
        }
    }

    /// A str from the wire (SNI, ALPN): the same few names on thousands of connections, one object each.
    fn text(&mut self, py: Python<'_>, s: Option<&str>) -> PyObject {
        let Some(s) = s else {
            return py.None();
        };
        if let Some(o) = self.texts.get(s) {
            return o.clone_ref(py);
        }
        let o = PyString::new(py, s).into_any().unbind();
        if self.texts.len() < SHARED_MAX {
            self.texts.insert(s.to_owned(), o.clone_ref(py));
        }
        o
    }

    /// `Sealed(client_random, server_hello, records)`.
    fn sealed(&self, py: Python<'_>, s: &Sealed) -> PyResult<PyObject> {
        let records: Vec<PyObject> = s
            .records
            .iter()
            .map(|r| {
                self.sealed_record.call1(
                    py,
                    (
                        self.role(py, r.sender),
                        r.seq,
                        r.ctype,
                        r.time,
                        r.frame,
                        PyBytes::new(py, &r.body),
                    ),
                )
            })
            .collect::<PyResult<_>>()?;
        self.sealed.call1(
            py,
            (
                s.client_random.as_deref().map(|b| PyBytes::new(py, b)),
                s.server_hello.as_deref().map(|b| PyBytes::new(py, b)),
                PyTuple::new(py, records)?,
            ),
        )
    }

    fn connection(&mut self, py: Python<'_>, c: ConnResult) -> PyResult<PyObject> {
        let alerts: Vec<PyObject> = c
            .alerts
            .iter()
            .map(|a| {
                self.make(
                    py,
                    &self.alert,
                    &self.alert_fields,
                    vec![
                        a.time.into_pyobject(py)?.into_any().unbind(),
                        a.frame.into_pyobject(py)?.into_any().unbind(),
                        self.role(py, a.sender),
                        a.level.into_pyobject(py)?.into_any().unbind(),
                        a.code.into_pyobject(py)?.into_any().unbind(),
                        a.encrypted
                            .into_pyobject(py)?
                            .to_owned()
                            .into_any()
                            .unbind(),
                    ],
                )
            })
            .collect::<PyResult<_>>()?;
        // The messages of one flight share their segment's time and frame: one float and one
        // int object for each run of them.
        let mut at: Option<(f64, u64, PyObject, PyObject)> = None;
        let events: Vec<PyObject> = c
            .handshake
            .iter()
            .map(|e| {
                let (time, frame) = match &at {
                    Some((t, f, time, frame))
                        if t.to_bits() == e.time.to_bits() && *f == e.frame =>
                    {
                        (time.clone_ref(py), frame.clone_ref(py))
                    }
                    _ => {
                        let time = e.time.into_pyobject(py)?.into_any().unbind();
                        let frame = e.frame.into_pyobject(py)?.into_any().unbind();
                        at = Some((e.time, e.frame, time.clone_ref(py), frame.clone_ref(py)));
                        (time, frame)
                    }
                };
                self.make(
                    py,
                    &self.event,
                    &self.event_fields,
                    vec![
                        time,
                        frame,
                        self.role(py, e.sender),
                        e.htype.into_pyobject(py)?.into_any().unbind(),
                    ],
                )
            })
            .collect::<PyResult<_>>()?;
        let anomalies: Vec<PyObject> = c
            .anomalies
            .iter()
            .map(|a| {
                self.make(
                    py,
                    &self.anomaly,
                    &self.anomaly_fields,
                    vec![
                        PyString::intern(py, a.kind).into_any().unbind(),
                        PyString::new(py, &a.detail).into_any().unbind(),
                        a.time.into_pyobject(py)?.into_any().unbind(),
                        a.sender.map_or_else(|| py.None(), |r| self.role(py, r)),
                    ],
                )
            })
            .collect::<PyResult<_>>()?;
        let mut args: Vec<PyObject> = vec![
            self.endpoint(py, c.client)?,
            self.server(py, c.server)?,
            c.start.into_pyobject(py)?.into_any().unbind(),
            c.end.into_pyobject(py)?.into_any().unbind(),
            c.first_frame.into_pyobject(py)?.into_any().unbind(),
            self.text(py, c.sni.as_deref()),
            c.client_version.into_pyobject(py)?.into_any().unbind(),
            self.list(py, &c.offered_versions)?,
            self.list(py, &c.offered_ciphers)?,
            self.list(py, &c.offered_groups)?,
            self.list(py, &c.offered_sigalgs)?,
            self.strs(py, &c.alpn_offered)?,
            self.text(py, c.alpn.as_deref()),
            c.version_id.into_pyobject(py)?.into_any().unbind(),
            c.cipher_id.into_pyobject(py)?.into_any().unbind(),
            c.hello_retry
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind(),
            self.chain(py, c.server_certs)?,
            self.chain(py, c.client_certs)?,
            c.certificate_request
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind(),
            c.kex_group.into_pyobject(py)?.into_any().unbind(),
            PyTuple::new(py, alerts)?.into_any().unbind(),
            PyTuple::new(py, events)?.into_any().unbind(),
            c.closed_by.map_or_else(|| py.None(), |r| self.role(py, r)),
            c.close_kind.map_or_else(
                || py.None(),
                |k| PyString::intern(py, k.name()).into_any().unbind(),
            ),
            c.starttls.map_or_else(
                || py.None(),
                |n| PyString::intern(py, n).into_any().unbind(),
            ),
            c.saw_syn.into_pyobject(py)?.to_owned().into_any().unbind(),
            c.client_hello_seen
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind(),
            c.server_hello_seen
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind(),
            c.appdata.into_pyobject(py)?.into_any().unbind(),
            c.client_appdata_first
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            c.server_appdata_last.into_pyobject(py)?.into_any().unbind(),
            PyTuple::new(py, anomalies)?.into_any().unbind(),
            self.list(py, &c.client_extensions)?,
            self.list(py, &c.client_point_formats)?,
            c.client_hello_sslv2
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind(),
            c.server_legacy_version
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            self.list(py, &c.server_extensions)?,
            c.session_id_echoed
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind(),
            c.ticket_offered
                .into_pyobject(py)?
                .to_owned()
                .into_any()
                .unbind(),
            c.close_frame.into_pyobject(py)?.into_any().unbind(),
            c.close_time.into_pyobject(py)?.into_any().unbind(),
            c.last_frame.into_pyobject(py)?.into_any().unbind(),
        ];
        // The carry exists only in scans that keep encrypted records.
        args.push(match c.sealed.as_deref() {
            Some(s) => self.sealed(py, s)?,
            None => py.None(),
        });
        self.make(py, &self.conn, &self.conn_fields, args)
    }
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// One share of one capture, scanned on its own thread. Iterate for batches of connections.
#[pyclass(module = "pcaptls._core")]
struct Scan {
    rx: Mutex<Option<Receiver<Msg>>>,
    builder: Mutex<Option<Builder>>,
    summary: Mutex<Option<(Box<Summary>, Option<String>)>>,
    #[pyo3(get)]
    bytes_read: u64,
}

fn input_error(py: Python<'_>, msg: String) -> PyErr {
    match py
        .import("pcaptls.errors")
        .and_then(|m| m.getattr("InputError")?.call1((msg,)))
    {
        Ok(err) => PyErr::from_value(err),
        Err(e) => e,
    }
}

#[pymethods]
impl Scan {
    /// `Scan(path, share=0, shares=1, data=None, sealed=False)`: with `data` (bytes), that
    /// in-memory capture is scanned and `path` only names it; with `sealed`, connections carry
    /// their encrypted records for a key log (`pcaptls.tls.sealed`). Raises
    /// `pcaptls.errors.InputError` for a file that is not a capture.
    #[new]
    #[pyo3(signature = (path, share = 0, shares = 1, data = None, sealed = false))]
    fn new(
        py: Python<'_>,
        path: String,
        share: u32,
        shares: u32,
        data: Option<Vec<u8>>,
        sealed: bool,
    ) -> PyResult<Scan> {
        let opened = py.allow_threads(|| {
            catch_unwind(AssertUnwindSafe(|| match data {
                Some(d) => FrameReader::from_bytes(&path, d),
                None => FrameReader::open(&path),
            }))
        });
        let reader = match opened {
            Ok(r) => r.map_err(|e| input_error(py, e.0))?,
            Err(e) => {
                return Err(input_error(
                    py,
                    format!(
                        "{path}: internal error in the Rust engine: {}",
                        panic_text(&*e)
                    ),
                ))
            }
        };
        let (tx, rx) = sync_channel::<Msg>(CHANNEL);
        thread::Builder::new()
            .name("pcaptls-scan".into())
            .spawn(move || {
                let mut scanner = Scanner::new(reader, share, shares);
                if sealed {
                    scanner.keep_sealed();
                }
                let result = catch_unwind(AssertUnwindSafe(|| {
                    // Results go in batches of at most BATCH_CONNS: a sweep retires thousands of
                    // connections at once, and what waits in the channel is bounded by connections.
                    let send = |scanner: &mut Scanner| {
                        let batch = scanner.take();
                        let bytes_read = scanner.bytes_read();
                        if batch.len() <= BATCH_CONNS {
                            return tx.send(Msg::Batch(batch, bytes_read)).is_ok();
                        }
                        // Each connection moved once (split_off would copy the rest every time).
                        let mut rest = batch.into_iter();
                        loop {
                            let chunk: Vec<ConnResult> = rest.by_ref().take(BATCH_CONNS).collect();
                            if chunk.is_empty() {
                                return true;
                            }
                            if tx.send(Msg::Batch(chunk, bytes_read)).is_err() {
                                return false;
                            }
                        }
                    };
                    while scanner.step(BATCH_FRAMES) {
                        if scanner.ready() > 0 && !send(&mut scanner) {
                            return false; // Python let go of the scan
                        }
                    }
                    send(&mut scanner)
                }));
                let panicked = match result {
                    Ok(true) => None,
                    Ok(false) => return,
                    Err(e) => Some(format!(
                        "internal error in the Rust engine: {}",
                        panic_text(&*e)
                    )),
                };
                let _ = tx.send(Msg::Done(Box::new(scanner.summary()), panicked));
            })
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start a scan thread: {e}")))?;
        Ok(Scan {
            rx: Mutex::new(Some(rx)),
            builder: Mutex::new(Some(Builder::new(py)?)),
            summary: Mutex::new(None),
            bytes_read: 0,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next batch of finished connections (a list, possibly empty), in the order they finished.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<PyObject>> {
        let Some(rx) = self
            .rx
            .lock()
            .map_err(|_| PyRuntimeError::new_err("scan lock poisoned"))?
            .take()
        else {
            return Ok(None);
        };
        let (rx, msg) = py.allow_threads(move || {
            let m = rx.recv();
            (rx, m)
        });
        match msg {
            Ok(Msg::Batch(batch, bytes_read)) => {
                *self
                    .rx
                    .lock()
                    .map_err(|_| PyRuntimeError::new_err("scan lock poisoned"))? = Some(rx);
                self.bytes_read = bytes_read;
                let mut guard = self
                    .builder
                    .lock()
                    .map_err(|_| PyRuntimeError::new_err("scan lock poisoned"))?;
                let builder = match guard.as_mut() {
                    Some(b) => b,
                    None => return Err(PyRuntimeError::new_err("scan already finished")),
                };
                let out = PyList::empty(py);
                for c in batch {
                    out.append(builder.connection(py, c)?)?;
                }
                Ok(Some(out.into_any().unbind()))
            }
            Ok(Msg::Done(summary, panicked)) => {
                self.bytes_read = summary.stats.bytes_read;
                *self
                    .summary
                    .lock()
                    .map_err(|_| PyRuntimeError::new_err("scan lock poisoned"))? =
                    Some((summary, panicked));
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    /// After iteration: read statistics and counters, as a dict (see pcaptls.pipeline.engines).
    fn summary(&self, py: Python<'_>) -> PyResult<PyObject> {
        let guard = self
            .summary
            .lock()
            .map_err(|_| PyRuntimeError::new_err("scan lock poisoned"))?;
        let Some((s, panicked)) = guard.as_ref() else {
            return Err(PyRuntimeError::new_err(
                "summary() before the scan finished",
            ));
        };
        let d = PyDict::new(py);
        d.set_item("format", &s.stats.format)?;
        d.set_item("frames", s.stats.frames)?;
        d.set_item("bytes_read", s.stats.bytes_read)?;
        d.set_item("snapped", s.stats.snapped)?;
        d.set_item(
            "linktypes",
            s.stats.linktypes.iter().copied().collect::<Vec<u32>>(),
        )?;
        d.set_item(
            "truncated",
            panicked.clone().or_else(|| s.stats.truncated.clone()),
        )?;
        d.set_item("panicked", panicked.is_some())?;
        let c = &s.counts;
        let counts = PyDict::new(py);
        for (k, v) in [
            ("not_ip", c.not_ip),
            ("not_tcp", c.not_tcp),
            ("fragment", c.fragment),
            ("malformed", c.malformed),
            ("unknown_link", c.unknown_link),
            ("tunnel", c.tunnel),
        ] {
            counts.set_item(k, v)?;
        }
        d.set_item("counts", counts)?;
        d.set_item("tcp_segments", s.tcp_segments)?;
        d.set_item("tcp_connections", s.tcp_connections)?;
        d.set_item("evicted", s.evicted)?;
        Ok(d.into_any().unbind())
    }
}

/// `sample(path, max_bytes)`: `(frames, bytes_read, opens)` of the capture's first `max_bytes`
/// (opens: TCP segments with SYN and no ACK), or `None` when it cannot be read as a capture;
/// `pcaptls.pipeline.analysis` guesses from it whether splitting the capture pays.
#[pyfunction]
fn sample(py: Python<'_>, path: String, max_bytes: u64) -> Option<(u64, u64, u64)> {
    py.allow_threads(|| {
        catch_unwind(AssertUnwindSafe(|| {
            FrameReader::open(&path).ok().map(|r| {
                let s = pcaptls_core::scan::sample(r, max_bytes);
                (s.frames, s.bytes_read, s.opens)
            })
        }))
        .ok()
        .flatten()
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // A panic is caught and reported as the reason the scan stopped (one line, see Scan); the
    // default hook would also print it with a backtrace. RUST_BACKTRACE set: keep the default.
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    m.add_class::<Scan>()?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add(
        "__doc__",
        "pcaptls's Rust engine: see pcaptls.pipeline.engines",
    )?;
    Ok(())
}
