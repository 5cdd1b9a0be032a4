package care

// Dataset is a whole body of care records held in memory: what the demo
// generator produces and postgres.DB.Load writes in one transaction. The
// slices are in dependency order (organisations before the teams,
// practitioners and patients that belong to them; those before the
// relationships and interactions that link them; interactions before their
// amendments). An interaction that has been amended already holds the amended
// content; its amendments hold the content before and after.
type Dataset struct {
	Organizations []Organization
	Teams         []Team
	Practitioners []Practitioner
	Patients      []Patient
	Relationships []CareRelationship
	Interactions  []Interaction
	Amendments    []InteractionAmendment
}
