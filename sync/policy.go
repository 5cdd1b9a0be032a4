package sync

// The conflict policy, in one place. When a device changes a field that the
// server changed too since the version the device last saw, the field's
// policy settles it:
//
//   - LAST_WRITER_WINS (plain fields): the later hybrid logical clock wins,
//     ties broken by the node (device id) so every server decides alike; the
//     losing value is kept in the conflict ledger.
//   - KEEP_BOTH (clinical content): the server's value stays, the device's is
//     kept in an OPEN conflict for a person to resolve. Nothing is overwritten.
//
// Every field of a signed or amended interaction is KEEP_BOTH, whatever its
// row below says: after sign-off, clinical content is never changed silently.

// fieldRule says how one pushable field is stored and settled.
type fieldRule struct {
	column string // the column in the entity's table (and in sync_field_clocks)
	policy ConflictPolicy
}

// fieldPolicies lists, per entity, every field a device may change with UPDATE
// (or AMEND), keyed by its GraphQL (camelCase) name.
var fieldPolicies = map[Entity]map[string]fieldRule{
	EntityInteraction: {
		"mode":            {"mode", PolicyLastWriterWins},
		"occurredAt":      {"occurred_at", PolicyLastWriterWins},
		"durationMinutes": {"duration_minutes", PolicyLastWriterWins},
		"participantIds":  {"participant_ids", PolicyLastWriterWins},
		"otherPresent":    {"other_present", PolicyLastWriterWins},
		"purpose":         {"purpose", PolicyKeepBoth},
		"notes":           {"notes", PolicyKeepBoth},
	},
	EntityCareRelationship: {
		"consent":           {"consent", PolicyLastWriterWins},
		"patientPreference": {"patient_preference", PolicyLastWriterWins},
		"periodEnd":         {"period_end", PolicyLastWriterWins},
	},
}

// policyFor returns the policy for a field of an entity; signed is whether the
// record is clinical content already signed off (a signed or amended
// interaction), which makes every field KEEP_BOTH.
func policyFor(e Entity, field string, signed bool) ConflictPolicy {
	if signed {
		return PolicyKeepBoth
	}
	if r, ok := fieldPolicies[e][field]; ok {
		return r.policy
	}
	return PolicyKeepBoth // unknown fields are never overwritten
}

// columnOf returns the column behind a field, or "" if it is not pushable.
func columnOf(e Entity, field string) string {
	return fieldPolicies[e][field].column
}

// lwwDeviceWins settles a LAST_WRITER_WINS collision: true when the device's
// clock is later than the server's (ties broken by node, so the outcome does
// not depend on which server instance decides).
func lwwDeviceWins(device, server HLC) bool {
	return device.Compare(server) > 0
}
