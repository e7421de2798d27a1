package syslog

import (
	"bytes"
	"errors"
	"io"
)

// errBadFrame reports an octet-counting frame whose length is malformed or
// above the maximum message size. The stream cannot be resynchronised after
// it, so the connection is closed.
var errBadFrame = errors.New("bad octet-counting frame")

// maxCountDigits bounds the length prefix of an octet-counted frame: ten
// digits already exceed any sane maximum message size.
const maxCountDigits = 10

// minBufSize is the read buffer a connection starts with. It grows (up to
// the framer's limit) only while the peer fills it on every read, so idle or
// slow peers hold a small buffer and fast ones get large reads.
const minBufSize = 4 << 10

// maxReadSize caps the read buffer for throughput purposes; a larger buffer
// is only needed when the maximum message size requires it.
const maxReadSize = 64 << 10

// frame is one message cut from a stream.
type frame struct {
	// data is valid until the next call to framer.next.
	data []byte
	// truncated is set when data was cut at the size limit or the stream
	// ended inside an octet-counted frame.
	truncated bool
	// eofCut is set when the stream ended inside an octet-counted frame.
	eofCut bool
}

// framer splits a syslog byte stream into messages, per RFC 6425 / RFC 6587:
// octet counting ("LEN SP MSG") or non-transparent framing (LF or NUL
// delimited). The framing is detected on every frame: a frame that starts
// with a non-zero digit followed by digits and a space is octet-counted,
// anything else is a delimited line. Until a connection has sent an
// octet-counted frame, only digits, a space and '<' (the start of a syslog
// PRI) make a count, so that a plain line starting with a number stays a
// line. Once the connection is octet-counted, a frame starting with a digit
// but lacking a valid length is an error rather than a line.
type framer struct {
	r     io.Reader
	buf   []byte
	start int
	end   int
	// max is the maximum message size; limit is the largest the buffer may
	// grow to (max plus room for the length prefix).
	max   int
	limit int

	decided bool
	octet   bool
	// discarding is set after a delimited line was cut at max: the rest of
	// it, up to the next delimiter, is dropped.
	discarding bool
	// discarded counts the bytes dropped while discarding.
	discarded int64
	// rerr is the read error that ended the stream, returned once the
	// buffered frames are consumed.
	rerr error
	// reads counts the reads that returned data.
	reads int

	// beforeRead, when set, is called before every read that may block. The
	// connection uses it to arm its deadlines and flush its batch. An error
	// from it ends the stream like a read error.
	beforeRead func() error
	// retryRead, when set, is asked about a read that failed without data;
	// if it returns true the read is retried (after beforeRead). The
	// connection uses it for the deadline that ends a batch's wait.
	retryRead func(error) bool
}

func newFramer(r io.Reader, max int) *framer {
	// Room for the message, its length prefix, and the digits scanned to
	// tell a huge count from a line (see octetFrame).
	limit := max + 2*maxCountDigits + 2
	size := min(minBufSize, limit)
	return &framer{r: r, buf: make([]byte, size), max: max, limit: limit}
}

// fill reads more data into the buffer. It returns false when the stream
// ended (f.rerr is then set).
func (f *framer) fill() bool {
	if f.rerr != nil {
		return false
	}
	if f.start > 0 && (f.end == len(f.buf) || f.start > len(f.buf)/2) {
		n := copy(f.buf, f.buf[f.start:f.end])
		f.start, f.end = 0, n
	}
	if f.end == len(f.buf) {
		if len(f.buf) >= f.limit {
			// The caller asked for more than the limit; callers never do.
			f.rerr = errBadFrame
			return false
		}
		f.grow()
	}
	if f.beforeRead != nil {
		if err := f.beforeRead(); err != nil {
			f.rerr = err
			return false
		}
	}
	empty := 0
	for {
		n, err := f.r.Read(f.buf[f.end:])
		f.end += n
		if n > 0 {
			f.reads++
			if err != nil {
				f.rerr = err
			} else if f.end == len(f.buf) && len(f.buf) < min(maxReadSize, f.limit) {
				f.grow()
			}
			return true
		}
		if err != nil {
			if f.retryRead != nil && f.retryRead(err) {
				if f.beforeRead != nil {
					if err := f.beforeRead(); err != nil {
						f.rerr = err
						return false
					}
				}
				continue
			}
			f.rerr = err
			return false
		}
		if empty++; empty == 100 {
			f.rerr = io.ErrNoProgress
			return false
		}
	}
}

func (f *framer) grow() {
	nb := make([]byte, min(2*len(f.buf), f.limit))
	n := copy(nb, f.buf[f.start:f.end])
	f.buf, f.start, f.end = nb, 0, n
}

// ensure makes at least n bytes available from f.start, reading as needed.
// It returns false if the stream ended first.
func (f *framer) ensure(n int) bool {
	if n > f.limit {
		return false
	}
	for f.end-f.start < n {
		if f.start+n > len(f.buf) && f.start > 0 {
			m := copy(f.buf, f.buf[f.start:f.end])
			f.start, f.end = 0, m
		}
		for n > len(f.buf) {
			f.grow()
		}
		if !f.fill() {
			return f.end-f.start >= n
		}
	}
	return true
}

// next returns the next frame. At the end of the stream it returns the read
// error (io.EOF for a clean close). With errBadFrame it may also return a
// frame holding what was readable.
func (f *framer) next() (frame, error) {
	for {
		if f.discarding {
			if !f.skipLine() {
				return frame{}, f.rerr
			}
			continue
		}
		// Skip delimiters between frames (empty lines, the LF some senders
		// put after an octet-counted frame).
		for f.start < f.end {
			c := f.buf[f.start]
			if c != '\n' && c != '\r' && c != 0 {
				break
			}
			f.start++
		}
		if f.start == f.end {
			f.start, f.end = 0, 0
			if !f.fill() {
				return frame{}, f.rerr
			}
			continue
		}
		c := f.buf[f.start]
		if c >= '1' && c <= '9' {
			fr, isOctet, err := f.octetFrame()
			if isOctet || err != nil {
				return fr, err
			}
		} else if !f.decided {
			f.decided = true
		}
		return f.line()
	}
}

// octetFrame parses an octet-counted frame at f.start. isOctet is false when
// the frame turned out to be a delimited line starting with digits.
func (f *framer) octetFrame() (fr frame, isOctet bool, err error) {
	// Find the end of the length prefix. A few digits beyond what any
	// count may hold are scanned so that a huge count is told from a line.
	const scanDigits = 2 * maxCountDigits
	i := 0
	for i <= scanDigits {
		if f.start+i == f.end && !f.ensure(i+1) {
			break
		}
		c := f.buf[f.start+i]
		if c < '0' || c > '9' {
			break
		}
		i++
	}
	// The payload of an octet-counted frame is a syslog message, so it
	// starts with '<'. Once a connection is octet-counted, any digits and a
	// space are taken as a count.
	isCount := f.start+i < f.end && f.buf[f.start+i] == ' '
	if isCount && !(f.decided && f.octet) {
		isCount = f.ensure(i+2) && f.buf[f.start+i+1] == '<'
	}
	if !isCount {
		if f.decided && f.octet {
			return frame{}, true, errBadFrame
		}
		f.decided = true
		return frame{}, false, nil
	}
	if i > maxCountDigits {
		f.decided, f.octet = true, true
		return frame{}, true, errBadFrame
	}
	n := 0
	for _, c := range f.buf[f.start : f.start+i] {
		n = n*10 + int(c-'0')
	}
	if !f.decided {
		f.decided, f.octet = true, true
	}
	hdr := i + 1
	if n > f.max {
		// Keep what fits, then give up on the connection: the rest of the
		// stream cannot be framed reliably.
		f.ensure(hdr + f.max)
		avail := min(f.end-f.start-hdr, f.max)
		data := f.buf[f.start+hdr : f.start+hdr+avail]
		f.start = f.end
		if avail == 0 {
			return frame{}, true, errBadFrame
		}
		return frame{data: data, truncated: true}, true, errBadFrame
	}
	if !f.ensure(hdr + n) {
		data := f.buf[f.start+hdr : f.end]
		f.start = f.end
		if len(data) == 0 {
			return frame{}, true, f.rerr
		}
		return frame{data: trimEOL(data), truncated: true, eofCut: true}, true, nil
	}
	data := f.buf[f.start+hdr : f.start+hdr+n]
	f.start += hdr + n
	return frame{data: trimEOL(data)}, true, nil
}

// line returns the delimited line at f.start.
func (f *framer) line() (frame, error) {
	scanned := 0
	for {
		win := f.buf[f.start+scanned : f.end]
		if i := indexDelim(win); i >= 0 {
			end := f.start + scanned + i
			if end-f.start > f.max {
				data := f.buf[f.start : f.start+f.max]
				f.start += f.max
				f.discarding = true
				return frame{data: data, truncated: true}, nil
			}
			data := f.buf[f.start:end]
			f.start = end + 1
			return frame{data: trimCR(data)}, nil
		}
		scanned = f.end - f.start
		if scanned > f.max {
			data := f.buf[f.start : f.start+f.max]
			f.start += f.max
			f.discarding = true
			return frame{data: data, truncated: true}, nil
		}
		if !f.fill() {
			if f.end > f.start {
				data := f.buf[f.start:f.end]
				f.start = f.end
				return frame{data: trimCR(data)}, nil
			}
			return frame{}, f.rerr
		}
	}
}

// skipLine drops bytes up to and including the next delimiter. It returns
// false when the stream ended first.
func (f *framer) skipLine() bool {
	for {
		if i := indexDelim(f.buf[f.start:f.end]); i >= 0 {
			f.discarded += int64(i)
			f.start += i + 1
			f.discarding = false
			return true
		}
		f.discarded += int64(f.end - f.start)
		f.start, f.end = 0, 0
		if !f.fill() {
			f.discarding = false
			return false
		}
	}
}

// indexDelim returns the index of the first LF or NUL in b, or -1.
func indexDelim(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, 0)
	}
	if j := bytes.IndexByte(b[:i], 0); j >= 0 {
		return j
	}
	return i
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// trimEOL removes a trailing LF or CRLF that some senders count into an
// octet-counted frame.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return trimCR(b)
}
