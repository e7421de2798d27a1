package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vigilsec/vigil/internal/meta"
)

// writerLockClass is the first half of the advisory lock that every write
// transaction takes ("vigi" in ASCII); the second half is a hash of the
// schema, so that two Vigil databases in the schemas of one PostgreSQL
// database do not hold each other up.
const writerLockClass = 0x76696769

// lockSQL takes the writer lock until the transaction ends.
const lockSQL = `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`

// connector wraps pgx's database/sql connector: it numbers placeholders,
// encodes parameters and decodes results (text.go), makes every write
// transaction take the writer lock, and classifies errors.
type connector struct {
	inner driver.Connector
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	ic, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, classify(err)
	}
	pc, ok := ic.(pgxConn)
	if !ok {
		ic.Close()
		return nil, fmt.Errorf("postgres: driver connection %T lacks the methods this backend uses", ic)
	}
	return &conn{pc}, nil
}

func (c *connector) Driver() driver.Driver { return drv{c.inner.Driver()} }

// drv is the driver the connector reports; connections come from the
// connector, never from a DSN through it.
type drv struct{ inner driver.Driver }

func (d drv) Open(string) (driver.Conn, error) {
	return nil, errors.New("postgres: open the metadata database with postgres.Open")
}

// pgxConn is what pgx's *stdlib.Conn implements.
type pgxConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
}

type conn struct{ c pgxConn }

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func (c *conn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *conn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	s, err := c.c.PrepareContext(ctx, Rebind(q))
	if err != nil {
		return nil, classify(err)
	}
	return &stmt{s}, nil
}

func (c *conn) Close() error { return c.c.Close() }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx begins a transaction; one that may write first takes the
// writer lock, as SQLite's BEGIN IMMEDIATE takes its write lock (see
// meta.Backend).
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := c.c.BeginTx(ctx, opts)
	if err != nil {
		return nil, classify(err)
	}
	if !opts.ReadOnly {
		if _, err := c.c.ExecContext(ctx, lockSQL, []driver.NamedValue{{Ordinal: 1, Value: int64(writerLockClass)}}); err != nil {
			t.Rollback()
			return nil, fmt.Errorf("taking the metadata writer lock: %w", classify(err))
		}
	}
	return tx{t}, nil
}

func (c *conn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.c.ExecContext(ctx, Rebind(q), args)
	if err != nil {
		return nil, classify(err)
	}
	return r, nil
}

func (c *conn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.c.QueryContext(ctx, Rebind(q), args)
	if err != nil {
		return nil, classify(err)
	}
	return &rows{r}, nil
}

func (c *conn) Ping(ctx context.Context) error              { return classify(c.c.Ping(ctx)) }
func (c *conn) ResetSession(ctx context.Context) error      { return c.c.ResetSession(ctx) }
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error { return checkValue(nv) }

// checkValue converts a parameter to what the schema stores: text
// encoded (text.go), a bool as the 0 or 1 of an integer column (as SQLite
// stores it), a named string or integer type as its base type. Anything
// else goes to pgx as it is.
func checkValue(nv *driver.NamedValue) error {
	if v, ok := nv.Value.(driver.Valuer); ok {
		x, err := v.Value()
		if err != nil {
			return err
		}
		nv.Value = x
	}
	switch v := nv.Value.(type) {
	case nil, int64, float64, []byte:
	case string:
		nv.Value = encodeText(v)
	case bool:
		nv.Value = boolInt(v)
	case int:
		nv.Value = int64(v)
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.String:
			nv.Value = encodeText(rv.String())
		case reflect.Bool:
			nv.Value = boolInt(rv.Bool())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			nv.Value = rv.Int()
		}
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

type stmt struct{ s driver.Stmt }

func (s *stmt) Close() error  { return s.s.Close() }
func (s *stmt) NumInput() int { return s.s.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("postgres: Stmt.Exec without a context")
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("postgres: Stmt.Query without a context")
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.s.(driver.StmtExecContext).ExecContext(ctx, args)
	if err != nil {
		return nil, classify(err)
	}
	return r, nil
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.s.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, classify(err)
	}
	return &rows{r}, nil
}

type rows struct{ r driver.Rows }

func (r *rows) Columns() []string { return r.r.Columns() }
func (r *rows) Close() error      { return r.r.Close() }

func (r *rows) Next(dest []driver.Value) error {
	if err := r.r.Next(dest); err != nil {
		return classify(err)
	}
	for i, v := range dest {
		if s, ok := v.(string); ok {
			dest[i] = decodeText(s)
		}
	}
	return nil
}

type tx struct{ t driver.Tx }

func (t tx) Commit() error   { return classify(t.t.Commit()) }
func (t tx) Rollback() error { return classify(t.t.Rollback()) }

// classify wraps an error that PostgreSQL reports with a SQLSTATE of a
// unique violation, a serialization failure or a deadlock so that it also
// matches meta.ErrUniqueViolation or meta.ErrRetryable. Other errors (io.EOF
// at the end of rows, driver.ErrBadConn) are returned as they are.
func classify(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return classified{err, meta.ErrUniqueViolation}
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return classified{err, meta.ErrRetryable}
	}
	return err
}

type classified struct{ err, class error }

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.err, c.class} }
