// Package hunt scans files offline with a compiled Sigma rule set: EVTX
// files, JSON (one object, an array, JSON lines or concatenated objects)
// and syslog or plain text lines, recursively through folders, on every
// core. Findings come out in input order, so the same files and rules
// always give the same output.
package hunt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/sigma"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/evtx"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/jsonscan"
)

// Matcher runs events through rules.
type Matcher interface {
	Match(ev *event.Event, fn func(detect.Detection))
}

// Parser turns raw records into events.
type Parser interface {
	Parse(r *ingest.Raw, ev *event.Event)
}

// Options configure a scan.
type Options struct {
	Engine Matcher
	Parser Parser
	// Workers is the number of parse/match goroutines (0: one per CPU).
	Workers int
	// MinLevel drops findings below this Sigma level ("" keeps all).
	MinLevel string
	// Progress, if set, is called now and then with bytes read and the
	// total bytes of all input files.
	Progress func(done, total int64)
	// Render, if set, is called by the workers for every finding; what it
	// appends to dst comes to emit as Finding.Line. Output formatting so
	// runs on every core instead of in the single emitting goroutine.
	Render func(f *Finding, dst []byte) []byte
}

// Finding is one detection in a file.
type Finding struct {
	detect.Detection
	// File is the input file, as given or as found in a folder.
	File string
	// Host is the event's host name (host.name, else Computer).
	Host string
	// Line is what Options.Render made of the finding.
	Line []byte
}

// Summary totals a scan.
type Summary struct {
	Files  int
	Events int64
	// ParseErrors counts records that did not parse as their format (kept
	// and matched as text, tagged parse_error); Truncated counts records
	// cut at a size limit (tagged truncated).
	ParseErrors int64
	Truncated   int64
	Bytes       int64
	Findings    int64
	ByLevel     map[string]int64
	ByRule      map[string]int64 // by rule title
	ByTactic    map[string]int64 // ATT&CK tactic from the rule tags
	ByHost      map[string]int64
	Errors      []error // unreadable files, corrupt records (the scan goes on)
	Elapsed     time.Duration
	MaxLevel    string // the highest level found
	maxLevel    sigma.Level
}

// chunkEvents is how many records a worker takes at once.
const chunkEvents = 512

type chunk struct {
	seq  int64
	file string
	// mtime is the file's modification time, the records' receive time,
	// so that the same files always give the same output.
	mtime time.Time
	recs  []ingest.Raw
	// results, filled by the worker
	findings []Finding
	events   int
	// parseErrs and truncated count the chunk's records so tagged.
	parseErrs, truncated int
}

// Run scans paths and calls emit for every finding, in input order, from
// one goroutine. It returns the summary; the error is for a cancelled ctx
// or when no input could be read at all.
func Run(ctx context.Context, paths []string, o Options, emit func(Finding) error) (*Summary, error) {
	start := time.Now()
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	var minLevel sigma.Level
	if o.MinLevel != "" {
		var err error
		if minLevel, err = sigma.ParseLevel(o.MinLevel); err != nil {
			return nil, err
		}
	}
	sum := &Summary{ByLevel: map[string]int64{}, ByRule: map[string]int64{}, ByTactic: map[string]int64{}, ByHost: map[string]int64{}}
	files, total, errs := expand(paths)
	sum.Errors = append(sum.Errors, errs...)
	if len(files) == 0 {
		if len(errs) > 0 {
			return sum, errors.Join(errs...)
		}
		return sum, errors.New("no input files")
	}
	sum.Files = len(files)
	var done atomic.Int64
	if o.Progress != nil {
		o.Progress(0, total)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *chunk, o.Workers*2)
	results := make(chan *chunk, o.Workers*2)
	// inflight bounds chunks read but not yet emitted, so a slow chunk
	// cannot make the reorder buffer grow without bound.
	inflight := make(chan struct{}, o.Workers*8)

	var (
		errMu   sync.Mutex
		readErr []error
	)
	addErr := func(err error) {
		errMu.Lock()
		readErr = append(readErr, err)
		errMu.Unlock()
	}

	// Reader: files in order, cut into chunks.
	go func() {
		defer close(work)
		var seq int64
		send := func(c *chunk) bool {
			select {
			case inflight <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			c.seq = seq
			seq++
			select {
			case work <- c:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, f := range files {
			if ctx.Err() != nil {
				return
			}
			var mtime time.Time
			if st, err := os.Stat(f); err == nil {
				mtime = st.ModTime()
			}
			err := readFile(ctx, f, func(recs []ingest.Raw) bool { return send(&chunk{file: f, mtime: mtime, recs: recs}) }, &done, addErr)
			if err != nil {
				addErr(fmt.Errorf("%s: %w", f, err))
			}
			if o.Progress != nil {
				o.Progress(done.Load(), total)
			}
		}
	}()

	// Workers: parse and match.
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				ev        *event.Event
				tmp, slab []byte
			)
			for c := range work {
				for i := range c.recs {
					// An event goes on being used for the next record
					// unless a finding keeps it.
					if ev == nil {
						ev = &event.Event{}
					}
					if c.recs[i].Received.IsZero() {
						c.recs[i].Received = c.mtime
					}
					o.Parser.Parse(&c.recs[i], ev)
					c.events++
					if ev.HasTag(event.TagParseError) {
						c.parseErrs++
					}
					if ev.HasTag(event.TagTruncated) {
						c.truncated++
					}
					kept := len(c.findings)
					o.Engine.Match(ev, func(d detect.Detection) {
						if minLevel != sigma.NoLevel && sigma.LevelOf(d.Rule.Level) < minLevel {
							return
						}
						c.findings = append(c.findings, Finding{Detection: d, File: c.file, Host: HostOf(d.Event)})
					})
					for j := kept; j < len(c.findings); j++ {
						f := &c.findings[j]
						if f.Event == ev {
							ev = nil
						}
						if o.Render != nil {
							// Render into scratch, then copy into a shared
							// slab: a few allocations per chunk, not one
							// growing buffer per line.
							tmp = o.Render(f, tmp[:0])
							if cap(slab)-len(slab) < len(tmp) {
								slab = make([]byte, 0, max(slabSize, len(tmp)))
							}
							at := len(slab)
							slab = append(slab, tmp...)
							f.Line = slab[at:len(slab):len(slab)]
						}
					}
				}
				c.recs = nil
				results <- c
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	// Emitter: reorder by sequence number.
	pending := map[int64]*chunk{}
	var next int64
	var emitErr error
	for c := range results {
		pending[c.seq] = c
		for {
			c, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-inflight
			sum.Events += int64(c.events)
			sum.ParseErrors += int64(c.parseErrs)
			sum.Truncated += int64(c.truncated)
			for _, f := range c.findings {
				sum.add(f)
				if emitErr == nil && emit != nil {
					if emitErr = emit(f); emitErr != nil {
						cancel()
					}
				}
			}
			if o.Progress != nil {
				o.Progress(done.Load(), total)
			}
		}
	}
	sum.Bytes = done.Load()
	sum.Errors = append(sum.Errors, readErr...)
	sum.Elapsed = time.Since(start)
	if emitErr != nil {
		return sum, emitErr
	}
	return sum, ctx.Err()
}

func (s *Summary) add(f Finding) {
	s.Findings++
	s.ByLevel[f.Rule.Level]++
	s.ByRule[f.Rule.Title]++
	if l := sigma.LevelOf(f.Rule.Level); l > s.maxLevel {
		s.maxLevel, s.MaxLevel = l, f.Rule.Level
	}
	if m, err := attack.Load(); err == nil {
		for _, short := range attack.Tactics(f.Rule.Tags) {
			if ta, ok := m.Tactic(short); ok {
				s.ByTactic[ta.Name]++
			}
		}
	}
	if f.Host != "" {
		s.ByHost[f.Host]++
	}
}

// HostOf is the host an event comes from: host.name, else the Windows
// Computer field.
func HostOf(ev *event.Event) string {
	if ev == nil {
		return ""
	}
	if h := ev.Str(event.FieldHostName); h != "" {
		return h
	}
	return ev.Str("Computer")
}

// expand lists the files under paths (folders recursively, in lexical
// order) and their total size.
func expand(paths []string) (files []string, total int64, errs []error) {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
			total += st.Size()
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			if d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					found = append(found, path)
					total += info.Size()
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, total, errs
}

// readFile reads one file as EVTX, JSON or text by its content and hands
// its records to send in chunks. send returns false to stop.
func readFile(ctx context.Context, path string, send func([]ingest.Raw) bool, done *atomic.Int64, addErr func(error)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte("ElfFile\x00")) {
		f.Close()
		return readEVTX(ctx, path, send, done, addErr)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(&countingReader{r: f, n: done}, 1<<20)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		br.Discard(3)
	}
	first, err := firstNonSpace(br)
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	if first == '{' || first == '[' && arrayOfObjects(br) {
		return readJSON(br, send)
	}
	return readLines(br, send)
}

// arrayOfObjects tells a JSON array of objects from a text log whose
// lines start with '[' (Apache's error log, many application logs): after
// the first '[' and white space comes '{' or ']'.
func arrayOfObjects(br *bufio.Reader) bool {
	b, _ := br.Peek(4096)
	i := bytes.IndexByte(b, '[')
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(b[i+1:], " \t\r\n")
	return len(rest) == 0 || rest[0] == '{' || rest[0] == ']'
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for i := 0; ; i++ {
		b, err := br.Peek(i + 1)
		if err != nil {
			return 0, err
		}
		c := b[i]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && !(i < 3 && (c == 0xEF || c == 0xBB || c == 0xBF)) {
			return c, nil
		}
		if i > 4096 {
			return c, nil
		}
	}
}

func readEVTX(ctx context.Context, path string, send func([]ingest.Raw) bool, done *atomic.Int64, addErr func(error)) error {
	ef, err := evtx.Open(path)
	if err != nil {
		return err
	}
	defer ef.Close()
	batch := make([]ingest.Raw, 0, chunkEvents)
	for rec, err := range ef.All() {
		if err != nil {
			addErr(fmt.Errorf("%s: %w", path, err))
			continue
		}
		batch = append(batch, ingest.Raw{Data: rec.AppendJSON(nil), Format: ingest.FormatJSON, Input: "hunt"})
		if len(batch) == chunkEvents {
			if !send(batch) {
				return ctx.Err()
			}
			batch = make([]ingest.Raw, 0, chunkEvents)
		}
	}
	done.Add(ef.Size())
	if len(batch) > 0 {
		send(batch)
	}
	return nil
}

// maxRecord bounds one JSON object or line.
const maxRecord = 64 << 20

// readJSON splits a stream of JSON objects — one object, an array of
// objects, JSON lines, or objects one after another — without decoding
// them, and hands them to send in chunks.
func readJSON(br *bufio.Reader, send func([]ingest.Raw) bool) error {
	sp := jsonSplitter{r: br}
	batch := make([]ingest.Raw, 0, chunkEvents)
	var slab []byte
	for {
		obj, err := sp.next()
		if err != nil {
			// What came before a bad record is still scanned.
			if len(batch) > 0 {
				send(batch)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		// Objects of a chunk share one slab, so a chunk costs a few
		// allocations rather than one per record.
		if cap(slab)-len(slab) < len(obj) {
			slab = make([]byte, 0, max(slabSize, len(obj)))
		}
		at := len(slab)
		slab = append(slab, obj...)
		batch = append(batch, ingest.Raw{Data: slab[at:len(slab):len(slab)], Format: ingest.FormatJSON, Input: "hunt"})
		if len(batch) == chunkEvents {
			if !send(batch) {
				return nil
			}
			batch = make([]ingest.Raw, 0, chunkEvents)
		}
	}
}

// slabSize is the size of the buffers JSON records are copied into.
const slabSize = 256 << 10

// jsonSplitter cuts a stream into top-level JSON objects (with
// jsonscan: values are checked when they are parsed). Between objects it
// accepts white space and array punctuation, so that an array of objects,
// JSON lines and concatenated objects all split the same way.
type jsonSplitter struct {
	r   io.Reader
	buf []byte
	// buf[off:end] is unread data; an object in progress starts at off.
	off, end int
	err      error
	sc       jsonscan.Scanner
}

// next returns the next object. The slice is valid until the next call.
func (s *jsonSplitter) next() ([]byte, error) {
	// Skip to the start of an object.
	for {
		for ; s.off < s.end; s.off++ {
			switch c := s.buf[s.off]; c {
			case '{':
				goto object
			case '[', ']', ',', ' ', '\t', '\r', '\n':
			default:
				return nil, fmt.Errorf("unexpected %q between JSON objects", c)
			}
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
object:
	for {
		// The scanner goes on from where it stopped, relative to s.off, so
		// fill may move the data.
		b := s.buf[s.off:s.end]
		n, err := s.sc.End(b)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			s.off += n
			return b[:n], nil
		}
		if s.sc.Scanned() > maxRecord {
			s.sc.Reset()
			return nil, fmt.Errorf("JSON object larger than %d bytes", maxRecord)
		}
		if err := s.fill(); err != nil {
			s.sc.Reset()
			if err == io.EOF {
				return nil, errors.New("truncated JSON object at end of file")
			}
			return nil, err
		}
	}
}

// fill reads more data, keeping buf[off:end] (moved to the front, the
// buffer grown when it is full of one object).
func (s *jsonSplitter) fill() error {
	if s.err != nil {
		return s.err
	}
	if s.buf == nil {
		s.buf = make([]byte, 1<<20)
	}
	if s.off > 0 {
		s.end = copy(s.buf, s.buf[s.off:s.end])
		s.off = 0
	}
	if s.end == len(s.buf) {
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if err != nil {
		s.err = err
		if n > 0 {
			return nil
		}
		return err
	}
	return nil
}

// readLines hands each non-empty line over as a syslog or text message.
func readLines(br *bufio.Reader, send func([]ingest.Raw) bool) error {
	batch := make([]ingest.Raw, 0, chunkEvents)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: keep the first part, skip the rest.
			keep := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			batch = append(batch, ingest.Raw{Data: keep, Format: ingest.FormatAuto, Input: "hunt", Truncated: true})
		} else if l := bytes.TrimRight(line, "\r\n"); len(l) > 0 {
			batch = append(batch, ingest.Raw{Data: append([]byte(nil), l...), Format: ingest.FormatAuto, Input: "hunt"})
		}
		if len(batch) == chunkEvents {
			if !send(batch) {
				return nil
			}
			batch = make([]ingest.Raw, 0, chunkEvents)
		}
		if err != nil {
			if len(batch) > 0 {
				send(batch)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Collect reads every record of paths and parses it into an event, in
// order, without matching: for benchmarks that need events in memory.
func Collect(ctx context.Context, paths []string, p Parser) ([]*event.Event, []error) {
	files, _, errs := expand(paths)
	var out []*event.Event
	var done atomic.Int64
	for _, f := range files {
		err := readFile(ctx, f, func(recs []ingest.Raw) bool {
			for i := range recs {
				ev := &event.Event{}
				p.Parse(&recs[i], ev)
				out = append(out, ev)
			}
			return ctx.Err() == nil
		}, &done, func(err error) { errs = append(errs, err) })
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return out, errs
}
