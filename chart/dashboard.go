package chart

import (
	"fmt"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/review"
	"github.com/jitaccess/jitaccess/workflow"
)

// TierColors colour tiers the same way in every chart, and as the web
// UI's tier labels do.
var TierColors = map[workflow.Tier]string{
	workflow.TierLow: "#8a93a3", workflow.TierMedium: "#5b7be0", workflow.TierHigh: "#d97706", workflow.TierCritical: "#b42318",
}

// Names lists the dashboard's charts, for routes and pages.
var Names = []string{"decisions", "volume", "live", "flags", "emergency"}

// Dashboard draws the named chart of d; ok is false for an unknown name.
func Dashboard(name string, d *review.Dashboard) (string, bool) {
	switch name {
	case "decisions":
		return DecisionTimes(d), true
	case "volume":
		return Volume(d), true
	case "live":
		return LiveGrants(d), true
	case "flags":
		return Flags(d), true
	case "emergency":
		return Emergency(d), true
	}
	return "", false
}

// DecisionTimes is the time-to-decision histogram.
func DecisionTimes(d *review.Dashboard) string {
	bars := make([]Bar, len(d.Decisions))
	for i, b := range d.Decisions {
		bars[i] = Bar{Label: b.Label, Value: float64(b.Count)}
	}
	title := fmt.Sprintf("Time to decision (%d decisions, median %s, 90%% within %s)", d.Decided,
		workflow.FormatDuration(d.MedianDecision.Round(time.Second)), workflow.FormatDuration(d.P90Decision.Round(time.Second)))
	if d.Decided == 0 {
		title = "Time to decision (no decisions)"
	}
	return Bars(title, bars)
}

// Volume is requests per resource, coloured by tier (the 12 busiest).
func Volume(d *review.Dashboard) string {
	var bars []Bar
	for i, v := range d.Volume {
		if i == 12 {
			break
		}
		bars = append(bars, Bar{Label: v.Resource + " (" + string(v.Tier) + ")", Value: float64(v.Count), Color: TierColors[v.Tier]})
	}
	return Bars("Requests by resource and tier", bars)
}

// LiveGrants is live grants over the period, per tier and in total.
func LiveGrants(d *review.Dashboard) string {
	at := make([]time.Time, len(d.LiveGrants))
	series := []Series{{Name: "all", Color: "#1b2230"}}
	for _, t := range workflow.Tiers {
		series = append(series, Series{Name: string(t), Color: TierColors[t]})
	}
	for i, p := range d.LiveGrants {
		at[i] = p.At
		series[0].Values = append(series[0].Values, float64(p.Total))
		for j, t := range workflow.Tiers {
			series[j+1].Values = append(series[j+1].Values, float64(p.ByTier[t]))
		}
	}
	return Lines("Live grants", at, series)
}

// Flags is anomaly flags by kind.
func Flags(d *review.Dashboard) string {
	bars := make([]Bar, len(d.Flags))
	for i, f := range d.Flags {
		bars[i] = Bar{Label: strings.ReplaceAll(string(f.Kind), "_", " "), Value: float64(f.Count), Color: TierColors[workflow.TierCritical]}
	}
	return Bars("Anomaly flags by kind", bars)
}

// Emergency is break-glass use per person (the 12 who used it most).
func Emergency(d *review.Dashboard) string {
	var bars []Bar
	total := 0
	for i, e := range d.Emergency {
		total += e.Count
		if i < 12 {
			bars = append(bars, Bar{Label: e.Person, Value: float64(e.Count), Color: TierColors[workflow.TierCritical]})
		}
	}
	title := fmt.Sprintf("Emergency access by person (%d uses)", total)
	if total == 0 {
		title = "Emergency access by person (none)"
	}
	return Bars(title, bars)
}
