package demo

// Built-in word lists. Everything here is invented and generic: no real
// person, and no note that could identify one.

var practiceNames = []string{
	"Riverside Medical Practice", "Castle Street Surgery", "Oakwood Health Centre",
	"The Elms Surgery", "Meadowbank Medical Centre", "Church Lane Surgery",
	"Parkside Family Practice", "Willow Tree Surgery", "Hillview Medical Group",
	"Station Road Surgery", "Abbey Fields Practice", "Brookside Health Centre",
}

var areaNames = []string{
	"Northbridge", "Eastfield", "Kingsmere", "Ashworth", "Westdale", "Southgate",
	"Longford", "Marlow Vale",
}

var quarterNames = []string{"North", "South", "East", "West", "Central"}

var femaleNames = []string{
	"Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Mia", "Poppy",
	"Ella", "Margaret", "Patricia", "Susan", "Jean", "Dorothy", "Joan", "Sarah",
	"Helen", "Priya", "Aisha", "Fatima", "Zainab", "Chloe", "Hannah", "Eileen",
	"Brenda", "Carol", "Janet", "Rachel", "Nia", "Siobhan", "Agnieszka",
}

var maleNames = []string{
	"Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad",
	"Oscar", "Charlie", "John", "David", "Michael", "Peter", "Robert", "William",
	"James", "Thomas", "Kenneth", "Brian", "Raj", "Imran", "Daniel", "Owen",
	"Patrick", "Tomasz", "Kwame", "Samuel", "Alan", "Derek", "Ian", "Connor",
}

var familyNames = []string{
	"Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
	"Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker",
	"White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke",
	"Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
	"Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan",
	"Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker", "Price",
	"Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter",
	"Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Khan", "Begum",
	"Ali", "Okafor", "Nowak", "Mensah", "O'Brien", "Singh", "Chen", "Ahmed",
}

// topic is a purpose and a note that goes with it.
type topic struct{ purpose, notes string }

var gpTopics = []topic{
	{"Medication review", "Medication reviewed with patient. No changes. Repeat prescriptions reauthorised for 12 months."},
	{"Blood pressure review", "Home readings reviewed, within target. Continue current treatment. Recheck in 6 months."},
	{"Chest infection", "Productive cough for 5 days. Chest examined. Antibiotics prescribed; safety-netting advice given."},
	{"Review of test results", "Blood results discussed. Mildly raised; repeat test in 3 months."},
	{"Diabetes review", "HbA1c reviewed, improving. Foot check normal. Continue current plan."},
	{"Back pain", "Mechanical lower back pain, no red flags. Analgesia and exercise advice. Physiotherapy self-referral information given."},
	{"Low mood", "Discussed mood and sleep. No risk identified. Talking therapy self-referral information given. Review in 4 weeks."},
	{"Fit note request", "Fit note issued for 2 weeks. Review if not improving."},
	{"Skin rash", "Itchy rash on forearms, likely eczema. Emollient and topical steroid prescribed."},
	{"Joint pain", "Knee pain on walking, examination consistent with osteoarthritis. Analgesia and exercise advised."},
	{"Dizziness", "Dizzy on standing. Lying and standing blood pressure checked. Medication adjusted; review in 2 weeks."},
	{"Follow-up after hospital discharge", "Discharge summary reviewed. Recovering well. Medication changes reconciled."},
	{"Asthma review", "Inhaler technique checked. Symptoms well controlled. Asthma plan updated."},
	{"Headache", "Tension-type headache, no red flags. Advice given on analgesia and triggers."},
	{"Repeat prescription query", "Query about repeat medication answered. Prescription sent to pharmacy."},
}

var gpChildTopics = []topic{
	{"Childhood fever", "Fever for 2 days, alert and drinking. No signs of serious illness. Safety-netting advice given to parent."},
	{"Ear pain", "Ear pain for 2 days, eardrum red. Analgesia advised; review if not settling in 3 days."},
	{"Skin rash", "Mild viral rash, child well. Advice given to parent."},
	{"Asthma review", "Inhaler technique checked with parent. Symptoms well controlled."},
}

var gpHomeTopics = []topic{
	{"Home visit: acute review", "Seen at home. Examined; plan discussed with patient and family."},
	{"Medication review", "Medication reviewed at home. Blister packs arranged with pharmacy."},
	{"Advance care planning", "Wishes and preferences discussed. Plan recorded and shared with the nursing team."},
	{"Follow-up after hospital discharge", "Discharge summary reviewed at home. Recovering slowly; nursing team involved."},
}

var practiceNurseTopics = []topic{
	{"Blood test", "Bloods taken as requested. Results to GP."},
	{"Flu vaccination", "Influenza vaccine given. No immediate reaction."},
	{"Blood pressure check", "Blood pressure recorded and within target."},
	{"Asthma review", "Peak flow recorded, inhaler technique checked."},
	{"Diabetic foot check", "Feet examined. Pulses present, sensation intact. Low risk."},
	{"Wound check", "Wound clean and healing. Sutures removed."},
	{"Health check", "NHS Health Check completed. Lifestyle advice given."},
}

var practiceNurseChildTopics = []topic{
	{"Childhood immunisations", "Routine immunisations given. Next due as per schedule."},
	{"Asthma review", "Inhaler and spacer technique checked with parent."},
}

// District nursing needs: what a housebound patient's visits are for.
var nursingTopics = [][]topic{
	needInsulin: {
		{"Insulin administration", "Blood glucose checked and insulin given as prescribed. No hypoglycaemia reported."},
	},
	needDressing: {
		{"Review of leg ulcer dressing", "Leg ulcer reviewed. Wound bed granulating, exudate reduced. Dressing and compression reapplied."},
		{"Wound dressing change", "Dressing changed. Wound edges healthy, no signs of infection."},
		{"Compression bandaging", "Compression bandages reapplied. Skin intact, patient comfortable."},
	},
	needMonthly: {
		{"Catheter care", "Catheter changed without difficulty. Urine draining well."},
		{"Vitamin B12 injection", "B12 injection given."},
		{"Pressure area check", "Pressure areas checked, skin intact. Repositioning advice reinforced with family."},
		{"Blood test (housebound)", "Bloods taken at home as requested by GP."},
		{"Palliative care visit", "Symptoms reviewed, comfortable. Anticipatory medicines in the home checked. Family supported."},
	},
}

// Who else is present, described not named.
var companionsAdult = []string{"daughter", "son", "wife", "husband", "carer", "neighbour"}
var companionsChild = []string{"mother", "father", "grandparent"}

var carerRoles = []string{"daughter", "son", "wife", "husband", "friend"}
