package chart_test

import (
	"encoding/xml"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jitaccess/chart"
	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// wellFormed parses svg as XML and returns the number of elements by name.
func wellFormed(t *testing.T, svg string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	count := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			count[se.Name.Local]++
		}
	}
	if count["svg"] != 1 || count["title"] < 1 || count["desc"] != 1 {
		t.Fatalf("svg must have one root, a title and a desc: %v", count)
	}
	return count
}

func TestBars(t *testing.T) {
	svg := chart.Bars(`Flags <&> "quoted"`, []chart.Bar{{Label: "a<script>", Value: 3}, {Label: "b", Value: 7}, {Label: "c", Value: 0}})
	n := wellFormed(t, svg)
	if n["rect"] != 3 {
		t.Errorf("%d bars, want 3", n["rect"])
	}
	if strings.Contains(svg, "<script") {
		t.Error("label not escaped")
	}
	if !strings.Contains(svg, "a&lt;script&gt;: 3; b: 7; c: 0") {
		t.Errorf("desc does not read the values out: %s", svg)
	}
	// The tallest bar reaches the top of the axis (7 → axis 10: 70%).
	if !strings.Contains(svg, `height="123.2"`) {
		t.Errorf("bar heights not scaled to the axis: %s", svg)
	}
	if e := chart.Bars("Empty", nil); !strings.Contains(e, "No data") {
		t.Error("empty chart says nothing")
	}
}

func TestLines(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	at := []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)}
	svg := chart.Lines("Live", at, []chart.Series{{Name: "all", Values: []float64{1, 4, 2}}, {Name: "high", Values: []float64{0, 1, 1}}})
	n := wellFormed(t, svg)
	if n["polyline"] != 2 {
		t.Errorf("%d lines", n["polyline"])
	}
	if !strings.Contains(svg, "all: peak 4, last 2") {
		t.Error("desc")
	}
	wellFormed(t, chart.Lines("One point", at[:1], nil))
}

func TestDashboardCharts(t *testing.T) {
	mon := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at, exp := mon.Add(time.Minute), mon.Add(time.Hour)
	reqs := []*workflow.Request{{ID: "r1", Requester: "a", Resource: "crm", Tier: workflow.TierHigh, State: workflow.StateApproved, CreatedAt: mon,
		ApprovedAt: &at, ExpiresAt: &exp, Approvals: []workflow.Approval{{Approver: "c", At: at}}}}
	d := review.BuildDashboard(review.Period{Start: mon, End: mon.Add(2 * time.Hour)}, mon.Add(3*time.Hour), reqs, []review.Flag{{Kind: review.FlagRubberStamp}})
	for _, name := range chart.Names {
		svg, ok := chart.Dashboard(name, d)
		if !ok {
			t.Fatalf("%s: unknown", name)
		}
		wellFormed(t, svg)
	}
	if svg, _ := chart.Dashboard("decisions", d); !strings.Contains(svg, "1 decisions, median 1m") {
		t.Errorf("decisions title: %s", svg)
	}
	if svg, _ := chart.Dashboard("volume", d); !strings.Contains(svg, "crm (high)") || !strings.Contains(svg, chart.TierColors[workflow.TierHigh]) {
		t.Error("volume chart lacks the resource or its tier colour")
	}
	if _, ok := chart.Dashboard("pie", d); ok {
		t.Error("unknown chart accepted")
	}
}

// TestCountAxisTicksWholeNumbers: a count axis never reads 1.2 / 2.5 / 3.8.
func TestCountAxisTicksWholeNumbers(t *testing.T) {
	tick := regexp.MustCompile(`text-anchor="end" fill="#555">([^<]*)<`)
	for _, max := range []float64{0, 1, 2, 3, 4, 5, 7, 9, 13, 27, 48, 99, 101, 333, 4999} {
		svg := chart.Bars("counts", []chart.Bar{{Label: "a", Value: max}})
		ticks := tick.FindAllStringSubmatch(svg, -1)
		if len(ticks) < 2 {
			t.Fatalf("max %v: ticks %v", max, ticks)
		}
		for _, m := range ticks {
			if strings.Contains(m[1], ".") {
				t.Errorf("max %v: tick %q is not a whole number", max, m[1])
			}
		}
		if top, _ := strconv.ParseFloat(ticks[len(ticks)-1][1], 64); top < max {
			t.Errorf("max %v: the axis tops at %v", max, top)
		}
	}
	// A long name is shortened on the axis and whole in its tooltip.
	long := "customer-identity-documents-archive"
	svg := chart.Bars("by resource", []chart.Bar{{Label: long, Value: 1}, {Label: "b", Value: 2}, {Label: "c", Value: 3}, {Label: "d", Value: 4},
		{Label: "e", Value: 1}, {Label: "f", Value: 1}, {Label: "g", Value: 1}, {Label: "h", Value: 1}})
	if !strings.Contains(svg, "<title>"+long+"</title>customer") || !strings.Contains(svg, "…</text>") {
		t.Fatalf("long label: %s", svg)
	}
}
