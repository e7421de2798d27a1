// Package agentwire is what the host agent (cmd/vigil-agent) and the
// server (internal/agents) say to each other: the enrollment request and
// answer, the agent's identity, and the frames of the persistent
// connection. It depends on the standard library only, so that the agent
// stays small.
//
// The connection is TLS 1.3 with client certificates, carrying frames: a
// 4-byte big-endian length, then that many bytes of one JSON object.
// Length-prefixed JSON was chosen over HTTP/2 streaming because both ends
// are ours, a frame is read with one bounded allocation, and the agent
// links no HTTP/2 stack for it.
package agentwire

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ServerName is the name in the agent listener's certificate, which the
// agent checks against the agent CA it was given at enrollment. The CA
// signs it for the server alone: agent certificates carry no name and
// cannot serve.
const ServerName = "agents.vigil.invalid"

// EnrollPath is the server's enrollment endpoint (POST, JSON).
const EnrollPath = "/api/v1/agents/enroll"

// Bounds of what an agent sends.
const (
	// MaxFrame bounds one frame's JSON.
	MaxFrame = 64 << 10
	// MaxHostname bounds a hostname (DNS's 253).
	MaxHostname = 253
	// MaxMachineID bounds a machine-id (systemd's is 32 hex digits).
	MaxMachineID = 64
	// MaxCSR bounds a PEM certificate request (an ECDSA P-256 one is
	// about 500 bytes).
	MaxCSR = 4 << 10
	// MaxEnrollBody bounds the whole enrollment request.
	MaxEnrollBody = 16 << 10
	// MaxToken bounds an enrollment token.
	MaxToken = 128
	// maxShort bounds the short strings of a heartbeat.
	maxShort = 64
)

// EnrollRequest is what an agent posts to EnrollPath.
type EnrollRequest struct {
	Token     string `json:"token"`
	CSR       string `json:"csr"` // PEM CERTIFICATE REQUEST, ECDSA P-256
	MachineID string `json:"machine_id"`
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Version   string `json:"version"`
}

// Check bounds and checks the request's fields (the CSR is checked by the
// server, which parses it).
func (r *EnrollRequest) Check() error {
	if r.Token == "" || len(r.Token) > MaxToken {
		return fmt.Errorf("token: want 1 to %d bytes", MaxToken)
	}
	if len(r.CSR) > MaxCSR {
		return fmt.Errorf("csr: longer than %d bytes", MaxCSR)
	}
	if err := CheckMachineID(r.MachineID); err != nil {
		return err
	}
	if err := CheckHostname(r.Hostname); err != nil {
		return err
	}
	if err := checkShort("os", r.OS); err != nil {
		return err
	}
	return checkShort("version", r.Version)
}

// EnrollResponse is the server's answer to an enrollment.
type EnrollResponse struct {
	AgentID     string `json:"agent_id"`
	Certificate string `json:"certificate"` // PEM, the agent's client certificate
	CA          string `json:"ca"`          // PEM, the agent CA
	// Endpoint is the agent listener's host:port.
	Endpoint string `json:"endpoint"`
}

// CheckMachineID accepts 1 to MaxMachineID letters, digits and hyphens.
func CheckMachineID(s string) error {
	if s == "" || len(s) > MaxMachineID {
		return fmt.Errorf("machine_id: want 1 to %d bytes", MaxMachineID)
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return errors.New("machine_id: only letters, digits and hyphens")
		}
	}
	return nil
}

// CheckHostname accepts 1 to MaxHostname bytes of letters, digits, '-',
// '.' and '_'.
func CheckHostname(s string) error {
	if s == "" || len(s) > MaxHostname {
		return fmt.Errorf("hostname: want 1 to %d bytes", MaxHostname)
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("hostname: byte %q not allowed (letters, digits, '-', '.', '_')", c)
		}
	}
	return nil
}

// checkShort bounds a short printable string.
func checkShort(name, s string) error {
	if len(s) > maxShort {
		return fmt.Errorf("%s: longer than %d bytes", name, maxShort)
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c >= 0x7f {
			return fmt.Errorf("%s: only printable ASCII", name)
		}
	}
	return nil
}

// AgentID derives an agent's id from its machine-id and its public key:
// the first 16 bytes of SHA-256 over the machine-id, a zero byte and the
// key's DER (SubjectPublicKeyInfo), in hex. The same host with the same
// key always has the same id, whatever its hostname; a copied machine-id
// with another key is another agent.
func AgentID(machineID string, pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding the public key: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(machineID))
	h.Write([]byte{0})
	h.Write(der)
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// IsAgentID reports whether s has the shape of an id from AgentID.
func IsAgentID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// Frame types.
const (
	// TypeHeartbeat is an agent's periodic report (Heartbeat).
	TypeHeartbeat = "heartbeat"
	// TypeRecords is an agent's batch of log records (Batch).
	TypeRecords = "records"
	// TypeAck is the server's acknowledgement (Ack): sent once when the
	// connection opens and after each batch it stored.
	TypeAck = "ack"
)

// Bounds of a batch of records.
const (
	// MaxBatchRecords bounds the records of one batch.
	MaxBatchRecords = 1024
	// MaxBatchBytes bounds a batch's JSON once decompressed.
	MaxBatchBytes = 1 << 20
	// MaxLine bounds one record's line (the agent cuts longer lines and
	// marks them truncated), small enough that one record of
	// incompressible bytes always fits a frame.
	MaxLine = 16 << 10
	// MaxPath bounds a record's file path.
	MaxPath = 1024
	// MaxSeq bounds a sequence number (it fits a signed 64-bit column).
	MaxSeq = 1<<63 - 1
)

// Frame is one message on the connection.
type Frame struct {
	Type      string     `json:"type"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	Batch     *Batch     `json:"batch,omitempty"`
	Ack       *Ack       `json:"ack,omitempty"`
	// Inventory is a part of an inventory (TypeInventory), InventoryAck
	// the server's answer to a whole one (TypeInventoryAck).
	Inventory    *InventoryPart `json:"inventory,omitempty"`
	InventoryAck *InventoryAck  `json:"inventory_ack,omitempty"`
}

// Batch carries records: Data is the DEFLATE-compressed (RFC 1951) JSON
// array of Record, in increasing Seq.
type Batch struct {
	Data []byte `json:"data"`
}

// Ack is the highest record sequence number the server has durably
// stored for the agent: the agent may drop its buffer up to it.
type Ack struct {
	Seq uint64 `json:"seq"`
}

// Record is one line an agent read.
type Record struct {
	// Seq is the agent's sequence number: monotonic across restarts.
	Seq uint64 `json:"seq"`
	// Time is when the agent read the line (Unix nanoseconds).
	Time int64 `json:"time"`
	// Path is the file the line came from.
	Path string `json:"path"`
	// Line is the line without its newline.
	Line []byte `json:"line"`
	// Truncated is set when the line was cut at MaxLine.
	Truncated bool `json:"truncated,omitempty"`
	// Kind is "" for a log line, KindFIM for a file integrity event
	// whose Line is its JSON.
	Kind string `json:"kind,omitempty"`
}

// KindFIM is the Kind of a record carrying a file integrity event.
const KindFIM = "fim"

// EncodeBatch compresses recs into a batch.
func EncodeBatch(recs []Record) (*Batch, error) {
	raw, err := json.Marshal(recs)
	if err != nil {
		return nil, fmt.Errorf("encoding records: %w", err)
	}
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("compressing records: %w", err)
	}
	w.Write(raw)
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compressing records: %w", err)
	}
	return &Batch{Data: buf.Bytes()}, nil
}

// DecodeBatch decompresses and checks a batch: at most MaxBatchBytes once
// decompressed (refused as soon as the bound is passed, before more is
// inflated), at most MaxBatchRecords records, sequence numbers positive
// and increasing, lines and paths bounded, paths valid UTF-8 without
// control characters.
func DecodeBatch(b *Batch) ([]Record, error) {
	zr := flate.NewReader(bytes.NewReader(b.Data))
	defer zr.Close()
	raw, err := io.ReadAll(io.LimitReader(zr, MaxBatchBytes+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing batch: %w", err)
	}
	if len(raw) > MaxBatchBytes {
		return nil, fmt.Errorf("batch: more than %d bytes decompressed", MaxBatchBytes)
	}
	var recs []Record
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&recs); err != nil {
		return nil, fmt.Errorf("decoding batch: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding batch: more than one value")
	}
	if len(recs) == 0 || len(recs) > MaxBatchRecords {
		return nil, fmt.Errorf("batch: want 1 to %d records, got %d", MaxBatchRecords, len(recs))
	}
	var last uint64
	for i, r := range recs {
		if r.Seq <= last || r.Seq > MaxSeq {
			return nil, fmt.Errorf("batch: record %d: sequence %d after %d", i, r.Seq, last)
		}
		last = r.Seq
		if len(r.Line) > MaxLine {
			return nil, fmt.Errorf("batch: record %d: line longer than %d bytes", i, MaxLine)
		}
		if err := checkPath(r.Path); err != nil {
			return nil, fmt.Errorf("batch: record %d: %w", i, err)
		}
		if r.Kind != "" && r.Kind != KindFIM {
			return nil, fmt.Errorf("batch: record %d: unknown kind %q", i, r.Kind)
		}
	}
	return recs, nil
}

func checkPath(p string) error {
	if len(p) > MaxPath {
		return fmt.Errorf("path: longer than %d bytes", MaxPath)
	}
	if !utf8.ValidString(p) {
		return errors.New("path: not UTF-8")
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return errors.New("path: control character")
		}
	}
	return nil
}

// Heartbeat is what an agent reports about itself every few seconds.
type Heartbeat struct {
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	// UptimeSeconds is the agent process's uptime.
	UptimeSeconds int64 `json:"uptime_seconds"`
	// RSSBytes is the agent's resident memory (0 where not measured).
	RSSBytes int64 `json:"rss_bytes"`
	// CPUSeconds is the CPU time the agent has used, user plus system
	// (0 where not measured).
	CPUSeconds float64 `json:"cpu_seconds"`
	// BufferBytes is the size of the agent's disk buffer.
	BufferBytes int64 `json:"buffer_bytes,omitempty"`
	// Dropped counts the records the agent dropped, oldest first, because
	// its buffer was full (since it started).
	Dropped int64 `json:"dropped,omitempty"`
	// LagSeconds is the age of the oldest record the server has not
	// acknowledged (0 when none waits).
	LagSeconds float64 `json:"lag_seconds,omitempty"`
	// FIM is the file integrity monitoring's health (nil when off).
	FIM *FIMHealth `json:"fim,omitempty"`
}

// FIMHealth counts what the agent's file integrity monitoring did since
// it started.
type FIMHealth struct {
	// Files is the number of files in its baseline.
	Files int64 `json:"files"`
	// Overflows counts the kernel event queue overflows (each made a
	// rescan).
	Overflows int64 `json:"overflows"`
	// WatchErrors counts the failed attempts to watch a directory
	// (retried, and its tree rescanned, every minute) and the watches'
	// other errors.
	WatchErrors int64 `json:"watch_errors"`
	// OverLimit counts the times a file was left out of the full
	// baseline.
	OverLimit int64 `json:"over_limit"`
	// Scans counts the full scans and rescans.
	Scans int64 `json:"scans"`
}

// ErrFrameTooLarge is returned for a frame longer than the reader allows.
var ErrFrameTooLarge = errors.New("frame too large")

// WriteFrame writes f as one frame.
func WriteFrame(w io.Writer, f *Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding frame: %w", err)
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b))
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads and decodes one frame of at most max bytes (MaxFrame
// when max is 0). A frame whose length is over the bound is refused
// before anything is allocated for it.
func ReadFrame(r io.Reader, max int) (*Frame, error) {
	if max <= 0 || max > MaxFrame {
		max = MaxFrame
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, errors.New("empty frame")
	}
	if n > uint32(max) {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrFrameTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading frame: %w", err)
	}
	return DecodeFrame(b)
}

// DecodeFrame decodes and checks one frame's JSON: a known type, with its
// body, each field bounded.
func DecodeFrame(b []byte) (*Frame, error) {
	var f Frame
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decoding frame: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding frame: more than one value")
	}
	switch f.Type {
	case TypeHeartbeat:
		h := f.Heartbeat
		if h == nil {
			return nil, errors.New("heartbeat frame without a heartbeat")
		}
		for name, s := range map[string]string{"version": h.Version, "os": h.OS, "arch": h.Arch} {
			if err := checkShort(name, s); err != nil {
				return nil, fmt.Errorf("heartbeat: %w", err)
			}
		}
		if h.UptimeSeconds < 0 || h.RSSBytes < 0 || h.CPUSeconds < 0 || h.BufferBytes < 0 || h.Dropped < 0 || h.LagSeconds < 0 {
			return nil, errors.New("heartbeat: negative or invalid figure")
		}
		if m := h.FIM; m != nil && (m.Files < 0 || m.Overflows < 0 || m.WatchErrors < 0 || m.OverLimit < 0 || m.Scans < 0) {
			return nil, errors.New("heartbeat: negative fim figure")
		}
	case TypeRecords:
		if f.Batch == nil || len(f.Batch.Data) == 0 {
			return nil, errors.New("records frame without a batch")
		}
	case TypeAck:
		if f.Ack == nil || f.Ack.Seq > MaxSeq {
			return nil, errors.New("ack frame without an ack")
		}
	case TypeInventory:
		if err := checkInventoryPart(f.Inventory); err != nil {
			return nil, err
		}
	case TypeInventoryAck:
		if err := checkInventoryAck(f.InventoryAck); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown frame type %q", f.Type)
	}
	return &f, nil
}
