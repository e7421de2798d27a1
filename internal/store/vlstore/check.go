package vlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
)

// Damage. The engine reads its files with functions that panic on what
// they cannot read (a part file truncated or overwritten, a metadata file
// that is not JSON), often in its own goroutines, where no recover can
// catch it: the process ends. Left alone, a damaged part would end the
// server at every start, or at every search that reads it. So the server
// checks the store in a child process before it opens it (CheckInChild):
// the child opens the engine (and, after an unclean exit, reads every
// row's id, which reads every part's files); when it dies, the report it
// leaves names the damaged file, whose partition (one day) is moved to
// DATA/victorialogs-quarantine and the check runs again. The server then
// starts without that day's events, says so in its log, and keeps the
// quarantined files for an operator to inspect or restore.

// QuarantineDir is where damaged partitions go, inside the data directory.
const QuarantineDir = "victorialogs-quarantine"

// maxQuarantine bounds the partitions one check moves aside: past it the
// damage is not in the parts (or everything is damaged) and the check
// fails.
const maxQuarantine = 10

// Check opens the store in dir and, with scan, reads the id column of
// every row (every part's files). It is CheckInChild's child: damage may
// end the process instead of returning an error. It returns the rows
// read.
func Check(ctx context.Context, dir string, scan bool) (int64, error) {
	db, err := Open(ctx, dir, Options{Retention: 200 * 365 * 24 * time.Hour})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if !scan {
		return 0, nil
	}
	lq, err := logstorage.ParseQuery("* | fields " + quote(colID) + ", " + quote(colDoc))
	if err != nil {
		return 0, err
	}
	var rows atomic.Int64
	qc := logstorage.NewQueryContext(ctx, &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, lq, false, nil)
	err = db.s.RunQuery(qc, func(_ uint, b *logstorage.DataBlock) { rows.Add(int64(b.RowsCount())) })
	return rows.Load(), err
}

// damagedPath finds, in a crash report, the partition directory of the
// file the engine could not read.
var damagedPath = regexp.MustCompile(`/` + regexp.QuoteMeta(dirName) + `/partitions/([0-9]{8})/`)

// DamagedPartition returns the partition (YYYYMMDD) a crash report names,
// or "".
func DamagedPartition(report string) string {
	if m := damagedPath.FindStringSubmatch(report); m != nil {
		return m[1]
	}
	return ""
}

// Quarantine moves partition day of the store in dir aside, into
// DATA/victorialogs-quarantine, and returns where it went.
func Quarantine(dir, day string) (string, error) {
	src := filepath.Join(dir, dirName, "partitions", day)
	if _, err := os.Stat(src); err != nil {
		return "", fmt.Errorf("quarantining partition %s: %w", day, err)
	}
	qdir := filepath.Join(dir, QuarantineDir)
	if err := os.MkdirAll(qdir, 0o750); err != nil {
		return "", fmt.Errorf("quarantining partition %s: %w", day, err)
	}
	dst := filepath.Join(qdir, day+"-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.Rename(src, dst); err != nil {
		return "", fmt.Errorf("quarantining partition %s: %w", day, err)
	}
	return dst, nil
}

// Quarantined is a partition a check moved aside.
type Quarantined struct {
	// Day is the partition (YYYYMMDD), Path where it went, Report the
	// line of the crash report that named it.
	Day, Path, Report string
}

// CheckInChild runs `exe store check --data dir --child [--scan]` until it
// passes, moving aside each partition whose damage ends it (see the top
// of this file). It returns the partitions moved; an error when the child
// fails without naming a partition (its report is in the error).
func CheckInChild(ctx context.Context, exe, dir string, scan bool) ([]Quarantined, error) {
	var moved []Quarantined
	for {
		args := []string{"store", "check", "--data", dir, "--child"}
		if scan {
			args = append(args, "--scan")
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err == nil {
			return moved, nil
		}
		report := out.String()
		day := DamagedPartition(report)
		if day == "" || len(moved) >= maxQuarantine || ctx.Err() != nil {
			return moved, fmt.Errorf("checking the victorialogs store in %s: %w: %s", dir, err, lastLines(report, 5))
		}
		path, qerr := Quarantine(dir, day)
		if qerr != nil {
			return moved, errors.Join(qerr, fmt.Errorf("checking the victorialogs store: %s", lastLines(report, 5)))
		}
		moved = append(moved, Quarantined{Day: day, Path: path, Report: reportLine(report, day)})
	}
}

// reportLine is the first line of report that names day.
func reportLine(report, day string) string {
	for line := range strings.Lines(report) {
		if strings.Contains(line, "/partitions/"+day+"/") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
