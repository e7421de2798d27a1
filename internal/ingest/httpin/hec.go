package httpin

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
	"github.com/vigilsec/vigil/internal/ingest"
)

// Splunk HEC status codes, as HEC clients expect them in {"text","code"}.
const (
	hecSuccess       = 0
	hecTokenDisabled = 1
	hecTokenRequired = 2
	hecInvalidToken  = 4
	hecNoData        = 5
	hecInvalidFormat = 6
	hecInternalError = 8
	hecServerBusy    = 9
	hecEventRequired = 12
	hecEventBlank    = 13
	hecHealthy       = 17
)

// Raw.Fields names set from HEC metadata.
const (
	FieldHECSource     = "hec.source"
	FieldHECSourcetype = "hec.sourcetype"
	FieldHECIndex      = "hec.index"
	FieldHECChannel    = "hec.channel"
	// FieldHECFieldsPrefix prefixes each indexed field of an envelope's
	// "fields" object.
	FieldHECFieldsPrefix = "hec.fields."
	fieldHostName        = "host.name"
	fieldTimestamp       = ingest.FieldTime
)

type hecResponse struct {
	Text        string `json:"text"`
	Code        int    `json:"code"`
	InvalidItem *int   `json:"invalid-event-number,omitempty"`
}

func hecFail(w http.ResponseWriter, status, code int, text string, item *int) {
	setRetry(w, status)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Splunk realm="vigil"`)
	}
	writeJSON(w, status, hecResponse{Text: text, Code: code, InvalidItem: item})
}

func (h *Handlers) registerHEC(mux *http.ServeMux) {
	for _, p := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0"} {
		mux.HandleFunc("POST "+p, h.hecEvent)
	}
	for _, p := range []string{"/services/collector/raw", "/services/collector/raw/1.0"} {
		mux.HandleFunc("POST "+p, h.hecRaw)
	}
	for _, p := range []string{"/services/collector/health", "/services/collector/health/1.0"} {
		mux.HandleFunc("GET "+p, h.hecHealth)
	}
}

// hecHealth answers like HEC's health endpoint. It needs no token, as in
// Splunk, so load balancers can probe it.
func (h *Handlers) hecHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, hecResponse{Text: "HEC is healthy", Code: hecHealthy})
}

// hecPrologue authenticates, takes a concurrency slot and reads the body.
// It answers the request itself and returns ok=false on failure; on success
// the caller must call h.release.
func (h *Handlers) hecPrologue(w http.ResponseWriter, r *http.Request) (Principal, []byte, bool) {
	p, st := h.authenticate(r, InputHEC)
	switch st {
	case authMissing:
		hecFail(w, http.StatusUnauthorized, hecTokenRequired, "Token is required", nil)
		return p, nil, false
	case authInvalid:
		hecFail(w, http.StatusUnauthorized, hecInvalidToken, "Invalid token", nil)
		return p, nil, false
	case authForbidden:
		hecFail(w, http.StatusForbidden, hecTokenDisabled, "Token disabled", nil)
		return p, nil, false
	}
	if !h.acquire() {
		h.stats.Rejected(InputHEC, "busy", 1)
		hecFail(w, http.StatusTooManyRequests, hecServerBusy, "Server is busy", nil)
		return p, nil, false
	}
	body, err := h.readBody(w, r)
	if err != nil {
		h.release()
		status := statusOf(err)
		h.stats.Rejected(InputHEC, rejectReason(status), 1)
		switch status {
		case http.StatusRequestEntityTooLarge, http.StatusRequestTimeout, http.StatusUnsupportedMediaType:
			// HEC has no code of its own for these; the status says it.
			hecFail(w, status, hecInvalidFormat, "Invalid data format", nil)
		default:
			hecFail(w, http.StatusBadRequest, hecInvalidFormat, "Invalid data format", nil)
		}
		return p, nil, false
	}
	if len(body) == 0 {
		h.release()
		h.stats.Rejected(InputHEC, "bad_request", 1)
		hecFail(w, http.StatusBadRequest, hecNoData, "No data", nil)
		return p, nil, false
	}
	return p, body, true
}

// hecSubmit queues msgs and answers the request.
func (h *Handlers) hecSubmit(w http.ResponseWriter, r *http.Request, msgs []ingest.Raw) {
	if len(msgs) == 0 {
		h.stats.Rejected(InputHEC, "bad_request", 1)
		hecFail(w, http.StatusBadRequest, hecNoData, "No data", nil)
		return
	}
	if err := h.submit(r, InputHEC, msgs); err != nil {
		switch status := statusOf(err); {
		case errors.Is(err, errClientGone):
		case status == http.StatusTooManyRequests || errors.Is(err, ingest.ErrClosed) || errors.Is(err, ingest.ErrUnavailable):
			hecFail(w, status, hecServerBusy, "Server is busy", nil)
		default:
			hecFail(w, status, hecInternalError, "Internal server error", nil)
		}
		return
	}
	writeJSON(w, http.StatusOK, hecResponse{Text: "Success", Code: hecSuccess})
}

// hecDefaults are the metadata a request carries in its query string and
// headers, applied to envelopes that do not set their own.
type hecDefaults struct {
	host, source, sourcetype, index, channel string
}

func hecDefaultsOf(r *http.Request) hecDefaults {
	q := r.URL.Query()
	d := hecDefaults{
		host:       q.Get("host"),
		source:     q.Get("source"),
		sourcetype: q.Get("sourcetype"),
		index:      q.Get("index"),
		channel:    q.Get("channel"),
	}
	if d.channel == "" {
		d.channel = r.Header.Get("X-Splunk-Request-Channel")
	}
	return d
}

func (d hecDefaults) fields() map[string]string {
	f := make(map[string]string, 5)
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	set(fieldHostName, d.host)
	set(FieldHECSource, d.source)
	set(FieldHECSourcetype, d.sourcetype)
	set(FieldHECIndex, d.index)
	set(FieldHECChannel, d.channel)
	return f
}

// hecEvent serves /services/collector/event: JSON envelopes one after
// another, each with an "event" (an object: FormatJSON; a string or other
// value: FormatAuto) and optional time, host, source, sourcetype, index and
// fields.
func (h *Handlers) hecEvent(w http.ResponseWriter, r *http.Request) {
	p, body, ok := h.hecPrologue(w, r)
	if !ok {
		return
	}
	defer h.release()
	now := time.Now()
	base := ingest.Raw{Input: InputHEC, Received: now, Peer: r.RemoteAddr, Tags: h.tags(p)}
	msgs, item, err := decodeHEC(body, hecDefaultsOf(r), base)
	if err != nil {
		h.stats.Rejected(InputHEC, "bad_request", 1)
		code := hecInvalidFormat
		var he *hecError
		if errors.As(err, &he) {
			code = he.code
		}
		var itemp *int
		if code != hecNoData {
			itemp = &item
		}
		hecFail(w, http.StatusBadRequest, code, hecText(code), itemp)
		return
	}
	h.hecSubmit(w, r, msgs)
}

func hecText(code int) string {
	switch code {
	case hecEventRequired:
		return "Event field is required"
	case hecEventBlank:
		return "Event field cannot be blank"
	case hecNoData:
		return "No data"
	}
	return "Invalid data format"
}

type hecError struct {
	code int
	err  error
}

func (e *hecError) Error() string { return fmt.Sprintf("hec code %d: %v", e.code, e.err) }
func (e *hecError) Unwrap() error { return e.err }

// decodeHEC decodes concatenated HEC envelopes. On error it returns the
// 0-based number of the offending envelope.
func decodeHEC(body []byte, d hecDefaults, base ingest.Raw) ([]ingest.Raw, int, error) {
	var msgs []ingest.Raw
	var p fastjson.Parser
	n := 0
	i := skipSpace(body, 0)
	if i < len(body) && body[i] != '{' {
		return nil, 0, &hecError{hecInvalidFormat, errNotObject}
	}
	err := splitObjects(body, func(obj []byte) error {
		v, err := p.ParseBytes(obj)
		if err != nil {
			return &hecError{hecInvalidFormat, err}
		}
		m, err := hecEnvelope(v, d, base)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		n++
		return nil
	})
	if err != nil {
		var he *hecError
		if !errors.As(err, &he) {
			err = &hecError{hecInvalidFormat, err}
		}
		return nil, n, err
	}
	if len(msgs) == 0 {
		return nil, 0, &hecError{hecNoData, errNoData}
	}
	return msgs, 0, nil
}

func hecEnvelope(v *fastjson.Value, d hecDefaults, base ingest.Raw) (ingest.Raw, error) {
	m := base
	ev := v.Get("event")
	if ev == nil {
		return m, &hecError{hecEventRequired, errors.New("envelope without event")}
	}
	switch ev.Type() {
	case fastjson.TypeObject:
		m.Format = ingest.FormatJSON
		m.Data = ev.MarshalTo(nil)
	case fastjson.TypeString:
		s := ev.GetStringBytes()
		if len(s) == 0 {
			return m, &hecError{hecEventBlank, errors.New("blank event")}
		}
		m.Format = ingest.FormatAuto
		m.Data = append([]byte(nil), s...)
	case fastjson.TypeNull:
		return m, &hecError{hecEventBlank, errors.New("null event")}
	default:
		m.Format = ingest.FormatAuto
		m.Data = ev.MarshalTo(nil)
	}
	f := d.fields()
	str := func(key, field string) {
		if s := v.Get(key); s != nil {
			if t := scalarString(s); t != "" {
				f[field] = t
			}
		}
	}
	str("host", fieldHostName)
	str("source", FieldHECSource)
	str("sourcetype", FieldHECSourcetype)
	str("index", FieldHECIndex)
	if t := v.Get("time"); t != nil {
		ts, err := hecTime(t)
		if err != nil {
			return m, &hecError{hecInvalidFormat, err}
		}
		if !ts.IsZero() {
			f[fieldTimestamp] = ts.UTC().Format(time.RFC3339Nano)
		}
	}
	if fo := v.Get("fields"); fo != nil {
		obj, err := fo.Object()
		if err != nil {
			return m, &hecError{hecInvalidFormat, fmt.Errorf("fields: %w", err)}
		}
		obj.Visit(func(k []byte, fv *fastjson.Value) {
			f[FieldHECFieldsPrefix+string(k)] = scalarString(fv)
		})
	}
	m.Fields = f
	return m, nil
}

// scalarString renders a JSON value as text: strings unquoted, anything
// else as its JSON.
func scalarString(v *fastjson.Value) string {
	if v.Type() == fastjson.TypeString {
		return string(v.GetStringBytes())
	}
	if v.Type() == fastjson.TypeNull {
		return ""
	}
	return string(v.MarshalTo(nil))
}

// hecTime reads HEC's time: epoch seconds with an optional fraction, as a
// number or a string (milliseconds and finer are recognised by magnitude).
func hecTime(v *fastjson.Value) (time.Time, error) {
	var f float64
	switch v.Type() {
	case fastjson.TypeNumber:
		f = v.GetFloat64()
	case fastjson.TypeString:
		s := string(v.GetStringBytes())
		if s == "" {
			return time.Time{}, nil
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return time.Time{}, fmt.Errorf("time %q: %w", s, err)
		}
	case fastjson.TypeNull:
		return time.Time{}, nil
	default:
		return time.Time{}, fmt.Errorf("time: got %s, want epoch seconds", v.Type())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f >= 1e20 {
		return time.Time{}, fmt.Errorf("time %v: out of range", f)
	}
	// HEC's time is epoch seconds, but some senders use milliseconds,
	// microseconds or nanoseconds: a value too large for seconds (after the
	// year 5138) is read in the next finer unit.
	switch {
	case f >= 1e17:
		f /= 1e9
	case f >= 1e14:
		f /= 1e6
	case f >= 1e11:
		f /= 1e3
	}
	sec, frac := math.Modf(f)
	// Round to microseconds: float64 epoch seconds carry no more.
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3), nil
}

// hecRaw serves /services/collector/raw: each non-blank line of the body is
// one FormatAuto message; host, source, sourcetype, index and channel come
// from the query string.
func (h *Handlers) hecRaw(w http.ResponseWriter, r *http.Request) {
	p, body, ok := h.hecPrologue(w, r)
	if !ok {
		return
	}
	defer h.release()
	d := hecDefaultsOf(r)
	now := time.Now()
	tags := h.tags(p)
	var msgs []ingest.Raw
	splitLines(body, func(line []byte, _ int) error {
		msgs = append(msgs, ingest.Raw{
			Data:     line,
			Format:   ingest.FormatAuto,
			Input:    InputHEC,
			Received: now,
			Peer:     r.RemoteAddr,
			Tags:     tags,
			Fields:   d.fields(),
		})
		return nil
	})
	h.hecSubmit(w, r, msgs)
}
