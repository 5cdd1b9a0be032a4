package continuity

// Mean summarises one index over a group of patients.
type Mean struct {
	// Value is the mean of the defined values; nil when none is defined.
	Value *float64
	// Eligible is the number of patients with a defined value.
	Eligible int
	// Excluded is the number of patients whose value is undefined.
	Excluded int
	// Reasons counts the excluded patients by Result.Reason.
	Reasons map[string]int
}

// MeanIndex returns the mean of the defined values among results, the usual
// summary of a patient-level index over a list or a practice. Undefined values
// are excluded, never averaged in as 0; how many were excluded, and why, is
// reported so that a mean over few eligible patients can be read as such.
func MeanIndex(results []Result) Mean {
	m := Mean{Reasons: make(map[string]int)}
	sum := 0.0
	for _, r := range results {
		if r.Value == nil {
			m.Excluded++
			m.Reasons[r.Reason]++
			continue
		}
		m.Eligible++
		sum += *r.Value
	}
	if m.Eligible > 0 {
		v := sum / float64(m.Eligible)
		m.Value = &v
	}
	return m
}
