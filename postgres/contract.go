package postgres

// This file is the contract between the store and its callers (graph/, later
// sync/). The postgres helper replaces every stub with a real implementation in
// the per-aggregate files (organization.go, patient.go, ...) and deletes this file.
//
// Rules every method follows:
//   - The caller is care.ActorFromContext(ctx); no actor → EUNAUTHENTICATED.
//   - Reads return only what the actor may see (see access.go). By-ID reads of
//     something missing or invisible return ENOTFOUND (never FORBIDDEN: no
//     existence leaks). Batch by-ID reads return a slice aligned with ids, with
//     nil for missing or invisible entries.
//   - Every patient row, relationship row or interaction row returned or
//     written is recorded in access_audit (one multi-row INSERT per call).
//   - Writes validate the input (care's Validate), authorise, write and audit
//     in one transaction. Create with an existing ID returns the existing
//     record when it is visible (ENOTFOUND otherwise) — idempotent, never a duplicate.
//   - *ForX batch methods serve per-request dataloaders: one SQL query for all
//     parents (LATERAL join per parent), results keyed by parent ID.

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

var errStub = errors.New("postgres: not yet implemented")

// Organization returns one organisation.
func (db *DB) Organization(ctx context.Context, id uuid.UUID) (*care.Organization, error) {
	return nil, errStub
}

// OrganizationsByID returns organisations aligned with ids (nil where missing).
func (db *DB) OrganizationsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Organization, error) {
	return nil, errStub
}

// Organizations lists organisations: the actor's own and its active partners (all for system).
func (db *DB) Organizations(ctx context.Context, f care.OrganizationFilter, p care.PageArgs) (*care.Page[care.Organization], error) {
	return nil, errStub
}

// PartnersOf returns, per organisation, the organisations in an active PARTNERSHIP with it.
func (db *DB) PartnersOf(ctx context.Context, orgIDs []uuid.UUID) (map[uuid.UUID][]*care.Organization, error) {
	return nil, errStub
}

// CreateOrganization creates an organisation (practice_admin, system).
func (db *DB) CreateOrganization(ctx context.Context, in care.CreateOrganizationInput) (*care.Organization, error) {
	return nil, errStub
}

// UpdateOrganization changes the actor's own organisation (practice_admin, system).
func (db *DB) UpdateOrganization(ctx context.Context, in care.UpdateOrganizationInput) (*care.Organization, error) {
	return nil, errStub
}

// Team returns one team.
func (db *DB) Team(ctx context.Context, id uuid.UUID) (*care.Team, error) { return nil, errStub }

// TeamsByID returns teams aligned with ids.
func (db *DB) TeamsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Team, error) {
	return nil, errStub
}

// Teams lists teams of the actor's organisation and partners.
func (db *DB) Teams(ctx context.Context, f care.TeamFilter, p care.PageArgs) (*care.Page[care.Team], error) {
	return nil, errStub
}

// TeamsOfPractitioners returns, per practitioner, the teams they are active members of.
func (db *DB) TeamsOfPractitioners(ctx context.Context, practitionerIDs []uuid.UUID) (map[uuid.UUID][]*care.Team, error) {
	return nil, errStub
}

// TeamMembers returns, per team, its active members.
func (db *DB) TeamMembers(ctx context.Context, teamIDs []uuid.UUID) (map[uuid.UUID][]*care.Practitioner, error) {
	return nil, errStub
}

// CreateTeam creates a team (practice_admin of its organisation, system).
func (db *DB) CreateTeam(ctx context.Context, in care.CreateTeamInput) (*care.Team, error) {
	return nil, errStub
}

// UpdateTeam renames a team.
func (db *DB) UpdateTeam(ctx context.Context, in care.UpdateTeamInput) (*care.Team, error) {
	return nil, errStub
}

// Practitioner returns one practitioner.
func (db *DB) Practitioner(ctx context.Context, id uuid.UUID) (*care.Practitioner, error) {
	return nil, errStub
}

// PractitionersByID returns practitioners aligned with ids.
func (db *DB) PractitionersByID(ctx context.Context, ids []uuid.UUID) ([]*care.Practitioner, error) {
	return nil, errStub
}

// Practitioners lists practitioners of the actor's organisation and partners.
func (db *DB) Practitioners(ctx context.Context, f care.PractitionerFilter, p care.PageArgs) (*care.Page[care.Practitioner], error) {
	return nil, errStub
}

// CreatePractitioner creates a practitioner (practice_admin of the organisation, system).
func (db *DB) CreatePractitioner(ctx context.Context, in care.CreatePractitionerInput) (*care.Practitioner, error) {
	return nil, errStub
}

// UpdatePractitioner changes a practitioner.
func (db *DB) UpdatePractitioner(ctx context.Context, in care.UpdatePractitionerInput) (*care.Practitioner, error) {
	return nil, errStub
}

// Patient returns one patient the actor may see.
func (db *DB) Patient(ctx context.Context, id uuid.UUID) (*care.Patient, error) {
	return nil, errStub
}

// PatientsByID returns patients aligned with ids (nil where missing or not visible).
func (db *DB) PatientsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Patient, error) {
	return nil, errStub
}

// Patients lists patients the actor may see, by family name, given name, id.
func (db *DB) Patients(ctx context.Context, f care.PatientFilter, p care.PageArgs) (*care.Page[care.Patient], error) {
	return nil, errStub
}

// CaseloadsFor returns, per practitioner, a page of the visible patients with an
// active relationship to them or to a team they are an active member of.
func (db *DB) CaseloadsFor(ctx context.Context, practitionerIDs []uuid.UUID, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Patient], error) {
	return nil, errStub
}

// CreatePatient registers a patient (gp, practice_admin of the practice, system).
func (db *DB) CreatePatient(ctx context.Context, in care.CreatePatientInput) (*care.Patient, error) {
	return nil, errStub
}

// UpdatePatient changes a visible patient (not integration).
func (db *DB) UpdatePatient(ctx context.Context, in care.UpdatePatientInput) (*care.Patient, error) {
	return nil, errStub
}

// CareRelationship returns one relationship.
func (db *DB) CareRelationship(ctx context.Context, id uuid.UUID) (*care.CareRelationship, error) {
	return nil, errStub
}

// CareRelationshipsByID returns relationships aligned with ids.
func (db *DB) CareRelationshipsByID(ctx context.Context, ids []uuid.UUID) ([]*care.CareRelationship, error) {
	return nil, errStub
}

// CareRelationships lists visible relationships, newest period_start first.
func (db *DB) CareRelationships(ctx context.Context, f care.RelationshipFilter, p care.PageArgs) (*care.Page[care.CareRelationship], error) {
	return nil, errStub
}

// RelationshipsForPatients returns, per patient, a page of their relationships.
func (db *DB) RelationshipsForPatients(ctx context.Context, patientIDs []uuid.UUID, f care.RelationshipFilter, p care.PageArgs) (map[uuid.UUID]*care.Page[care.CareRelationship], error) {
	return nil, errStub
}

// CurrentPractitioners returns, per patient, the practitioner ID of their active
// relationship of kind (USUAL_GP or NAMED_NURSE); absent when none.
func (db *DB) CurrentPractitioners(ctx context.Context, kind care.RelationshipKind, patientIDs []uuid.UUID) (map[uuid.UUID]uuid.UUID, error) {
	return nil, errStub
}

// StartRelationship starts a relationship.
func (db *DB) StartRelationship(ctx context.Context, in care.StartRelationshipInput) (*care.CareRelationship, error) {
	return nil, errStub
}

// UpdateRelationship changes consent, preference or planned end.
func (db *DB) UpdateRelationship(ctx context.Context, in care.UpdateRelationshipInput) (*care.CareRelationship, error) {
	return nil, errStub
}

// EndRelationship ends a relationship.
func (db *DB) EndRelationship(ctx context.Context, in care.EndRelationshipInput) (*care.CareRelationship, error) {
	return nil, errStub
}

// Interaction returns one interaction with a visible patient.
func (db *DB) Interaction(ctx context.Context, id uuid.UUID) (*care.Interaction, error) {
	return nil, errStub
}

// InteractionsByID returns interactions aligned with ids.
func (db *DB) InteractionsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Interaction, error) {
	return nil, errStub
}

// Interactions lists visible interactions, newest first (occurred_at desc, id desc).
func (db *DB) Interactions(ctx context.Context, f care.InteractionFilter, p care.PageArgs) (*care.Page[care.Interaction], error) {
	return nil, errStub
}

// InteractionsForPatients returns, per patient, a page of their interactions.
func (db *DB) InteractionsForPatients(ctx context.Context, patientIDs []uuid.UUID, f care.InteractionFilter, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Interaction], error) {
	return nil, errStub
}

// InteractionsForPractitioners returns, per practitioner, a page of the visible interactions they led.
func (db *DB) InteractionsForPractitioners(ctx context.Context, practitionerIDs []uuid.UUID, f care.InteractionFilter, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Interaction], error) {
	return nil, errStub
}

// AmendmentsOf returns, per interaction, its amendments oldest first.
func (db *DB) AmendmentsOf(ctx context.Context, interactionIDs []uuid.UUID) (map[uuid.UUID][]*care.InteractionAmendment, error) {
	return nil, errStub
}

// CreateInteraction records a draft (nurse, gp) for a visible patient.
func (db *DB) CreateInteraction(ctx context.Context, in care.CreateInteractionInput) (*care.Interaction, error) {
	return nil, errStub
}

// UpdateInteraction edits a draft (author only); a signed one is ECONFLICT.
func (db *DB) UpdateInteraction(ctx context.Context, in care.UpdateInteractionInput) (*care.Interaction, error) {
	return nil, errStub
}

// SignInteraction signs a draft (author only); signing again returns it unchanged.
func (db *DB) SignInteraction(ctx context.Context, in care.SignInteractionInput) (*care.Interaction, error) {
	return nil, errStub
}

// AmendInteraction corrects a signed interaction (nurse, gp who may see the patient).
func (db *DB) AmendInteraction(ctx context.Context, in care.AmendInteractionInput) (*care.Interaction, error) {
	return nil, errStub
}

// AuditEntries returns the audit trail for a patient, oldest first (tests, operators).
func (db *DB) AuditEntries(ctx context.Context, patientID uuid.UUID) ([]*care.AuditEntry, error) {
	return nil, errStub
}
