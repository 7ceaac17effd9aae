package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/workflow"
)

// Export formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// ContentType returns the MIME type of an export format.
func ContentType(format string) string {
	if format == FormatCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// CheckFormat refuses unknown export formats.
func CheckFormat(format string) error {
	if format != FormatCSV && format != FormatJSONL {
		return workflow.Errorf(workflow.CodeInvalid, "format must be csv or jsonl, not %q", format)
	}
	return nil
}

// Columns are the CSV header and the JSON keys, in order.
var Columns = []string{"id", "at", "actor", "action", "request_id", "resource", "subject", "from_state", "to_state", "reason", "prev_hash", "hash", "purpose", "auth", "mfa", "source"}

// columnsBeforePurpose are the columns of a CSV export made before
// records carried a purpose, and columnsBeforeAuth those of one made
// before they said how the person was verified; such exports still read.
var (
	columnsBeforePurpose = Columns[:len(Columns)-4]
	columnsBeforeAuth    = Columns[:len(Columns)-3]
	columnsBeforeSource  = Columns[:len(Columns)-1]
)

// JSON is one exported record. The hashes travel with it, so that an
// export can be verified without the database (audit verify --file).
type JSON struct {
	ID        int64  `json:"id"`
	At        string `json:"at"`
	Actor     string `json:"actor"`
	Action    string `json:"action"`
	RequestID string `json:"request_id"`
	Resource  string `json:"resource"`
	Subject   string `json:"subject"`
	FromState string `json:"from_state"`
	ToState   string `json:"to_state"`
	Reason    string `json:"reason"`
	PrevHash  string `json:"prev_hash"`
	Hash      string `json:"hash"`
	Purpose   string `json:"purpose,omitempty"`
	Auth      string `json:"auth,omitempty"`
	MFA       string `json:"mfa,omitempty"`
	Source    string `json:"source,omitempty"`
}

// ToJSON converts a record for export.
func ToJSON(r *Record) JSON {
	return JSON{ID: r.ID, At: CanonicalTime(r.At).Format(TimeFormat), Actor: r.Actor, Action: r.Action, RequestID: r.RequestID,
		Resource: r.Resource, Subject: r.Subject, FromState: string(r.FromState), ToState: string(r.ToState), Reason: r.Reason,
		PrevHash: r.PrevHash, Hash: r.Hash, Purpose: r.Purpose, Auth: r.Auth, MFA: r.MFA, Source: r.Source}
}

func (j JSON) record() (Record, error) {
	at, err := time.Parse(time.RFC3339Nano, j.At)
	if err != nil {
		return Record{}, fmt.Errorf("record %d: at %q is not an RFC 3339 time", j.ID, j.At)
	}
	return Record{AuditRecord: workflow.AuditRecord{ID: j.ID, At: at.UTC(), Actor: j.Actor, Action: j.Action, RequestID: j.RequestID,
		Resource: j.Resource, Subject: j.Subject, FromState: workflow.State(j.FromState), ToState: workflow.State(j.ToState), Reason: j.Reason,
		Purpose: j.Purpose, Auth: j.Auth, MFA: j.MFA, Source: j.Source},
		PrevHash: j.PrevHash, Hash: j.Hash}, nil
}

// Writer writes records in one export format.
type Writer struct {
	format string
	w      *bufio.Writer
	csv    *csv.Writer
	enc    *json.Encoder
	n      int64
}

// NewWriter starts an export to w. CSV begins with a header row.
func NewWriter(w io.Writer, format string) (*Writer, error) {
	if err := CheckFormat(format); err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	x := &Writer{format: format, w: bw}
	if format == FormatCSV {
		x.csv = csv.NewWriter(bw)
		if err := x.csv.Write(Columns); err != nil {
			return nil, err
		}
	} else {
		x.enc = json.NewEncoder(bw)
		x.enc.SetEscapeHTML(false)
	}
	return x, nil
}

// Write adds one record.
func (x *Writer) Write(r *Record) error {
	x.n++
	if x.enc != nil {
		return x.enc.Encode(ToJSON(r))
	}
	j := ToJSON(r)
	return x.csv.Write([]string{strconv.FormatInt(j.ID, 10), j.At, cell(j.Actor), cell(j.Action), j.RequestID, cell(j.Resource),
		cell(j.Subject), j.FromState, j.ToState, cell(j.Reason), j.PrevHash, j.Hash, cell(j.Purpose), cell(j.Auth), cell(j.MFA), cell(j.Source)})
}

// Count is how many records were written.
func (x *Writer) Count() int64 { return x.n }

// Flush writes out what is buffered.
func (x *Writer) Flush() error {
	if x.csv != nil {
		x.csv.Flush()
		if err := x.csv.Error(); err != nil {
			return err
		}
	}
	return x.w.Flush()
}

// cell defuses spreadsheet formulas: a text cell that starts with = + - @
// tab, carriage return or an apostrophe gets one more apostrophe in
// front, which ReadExport removes again (so hashes still verify).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

func uncell(s string) string { return strings.TrimPrefix(s, "'") }

// ReadExport reads an export (CSV or JSON lines, told apart by the first
// line) and calls fn with each record in file order.
func ReadExport(r io.Reader, fn func(*Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(1)
	if errors.Is(err, io.EOF) || len(head) == 0 {
		return errors.New("the export is empty")
	}
	if head[0] == '{' {
		dec := json.NewDecoder(br)
		dec.DisallowUnknownFields()
		for line := 1; ; line++ {
			var j JSON
			err := dec.Decode(&j)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("record %d of the export is not valid JSON: %v", line, err)
			}
			rec, err := j.record()
			if err != nil {
				return err
			}
			if err := fn(&rec); err != nil {
				return err
			}
		}
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	width := len(header)
	switch {
	case err != nil:
	case strings.Join(header, ",") == strings.Join(columnsBeforePurpose, ","):
		header = append(header, "purpose", "auth", "mfa", "source")
	case strings.Join(header, ",") == strings.Join(columnsBeforeAuth, ","):
		header = append(header, "auth", "mfa", "source")
	case strings.Join(header, ",") == strings.Join(columnsBeforeSource, ","):
		header = append(header, "source")
	}
	if err != nil || strings.Join(header, ",") != strings.Join(Columns, ",") {
		return fmt.Errorf("the export is neither JSON lines nor a jitaccess CSV export (header %s)", strings.Join(Columns, ","))
	}
	cr.FieldsPerRecord = width // every row as wide as the header
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the CSV export is malformed: %v", err)
		}
		var purpose, auth, mfa, source string
		if len(row) > 12 {
			purpose = uncell(row[12])
		}
		if len(row) > 14 {
			auth, mfa = uncell(row[13]), uncell(row[14])
		}
		if len(row) > 15 {
			source = uncell(row[15])
		}
		id, err := strconv.ParseInt(row[0], 10, 64)
		if err != nil {
			return fmt.Errorf("the CSV export has a bad id %q", row[0])
		}
		rec, err := JSON{ID: id, At: row[1], Actor: uncell(row[2]), Action: uncell(row[3]), RequestID: row[4], Resource: uncell(row[5]),
			Subject: uncell(row[6]), FromState: row[7], ToState: row[8], Reason: uncell(row[9]), PrevHash: row[10], Hash: row[11], Purpose: purpose, Auth: auth, MFA: mfa, Source: source}.record()
		if err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
}

// VerifyExport checks an export file. A complete export (no filters) is
// checked as a chain: every record, every link, no gaps; one that starts
// after a prune needs its anchor's hash as start (or starts at genesis).
// A filtered export (partial) can only have each record checked against
// its own hash: that still proves no record in it was changed.
func VerifyExport(r io.Reader, partial bool, anchors []Anchor, expect ...Checkpoint) (Result, error) {
	start := time.Now()
	v := NewVerifier(anchors, expect...)
	var res Result
	// Records are checked BatchSize at a time, hashed on every core.
	batch := make([]Record, 0, BatchSize)
	flush := func() {
		defer func() { batch = batch[:0] }()
		if !partial {
			v.AddBatch(batch)
			return
		}
		if res.Break != nil {
			return
		}
		match := v.hashAll(batch)
		for i := range batch {
			rec := &batch[i]
			if res.Records == 0 {
				res.FirstID = rec.ID
			}
			if rec.Hash == "" {
				res.Legacy++
				continue
			}
			if !match[i] {
				res.Break = &Break{ID: rec.ID, Kind: BreakHash, Message: fmt.Sprintf("record %d's content does not match its hash: it was changed after it was written", rec.ID)}
				return
			}
			res.Records++
			res.Head = Checkpoint{ID: rec.ID, Hash: rec.Hash}
		}
	}
	err := ReadExport(r, func(rec *Record) error {
		batch = append(batch, *rec)
		if len(batch) == cap(batch) {
			flush()
		}
		return nil
	})
	flush()
	if !partial {
		res = v.Finish()
	} else {
		res.OK = res.Break == nil
	}
	res.Took = Duration(time.Since(start))
	if err != nil {
		res.OK = false
	}
	return res, err
}
