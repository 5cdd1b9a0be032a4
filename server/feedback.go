package server

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres"
)

// The public feedback page: GET /feedback/<token> shows the questionnaire a
// link asks for, POST /feedback/<token> stores the answers and redirects to
// /feedback/thanks. It is plain server-rendered HTML with one inline style
// sheet: no JavaScript, no external assets, large touch targets, every input
// labelled. It stores nothing about the respondent (no IP, no user agent, no
// cookie) and is never logged beyond the "other" route label.

// maxFeedbackForm bounds a submitted form.
const maxFeedbackForm = 64 << 10

// feedbackSigner returns the signer for feedback links: cfg.FeedbackSecret,
// else one derived from the JWT HMAC secret (development), else nil
// (feedback links disabled).
func feedbackSigner(cfg Config) *feedback.Signer {
	secret := cfg.FeedbackSecret
	if len(secret) == 0 && len(cfg.JWT.HMACSecret) > 0 {
		secret = feedback.DeriveSecret(cfg.JWT.HMACSecret)
	}
	if len(secret) == 0 {
		return nil
	}
	s, err := feedback.NewSigner(secret)
	if err != nil {
		return nil
	}
	return s
}

// feedbackHandler serves the feedback page with db and signer (nil: every
// link is refused as not enabled).
func feedbackHandler(db *postgres.DB, signer *feedback.Signer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securePageHeaders(w)
		token := strings.TrimPrefix(r.URL.Path, "/feedback/")
		if token == "thanks" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			renderPage(w, http.StatusOK, pageData{Title: "Thank you", Thanks: true})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, HEAD, POST")
			renderMessage(w, http.StatusMethodNotAllowed, "Not available", "This page can only be opened or submitted.")
			return
		}
		if signer == nil || db == nil {
			renderMessage(w, http.StatusNotFound, "Feedback is not available", "Feedback links are not enabled on this service.")
			return
		}
		claims, err := signer.Verify(token)
		if err != nil {
			refuse(w, r, err)
			return
		}
		info, err := db.FeedbackLinkStatus(r.Context(), claims)
		if err != nil {
			refuse(w, r, err)
			return
		}
		data := pageData{Title: "Your feedback", Token: token, Claims: claims, Info: info,
			Subject: string(claims.SubjectKind) + ":" + claims.SubjectID.String()}
		if r.Method != http.MethodPost {
			renderPage(w, http.StatusOK, data)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFeedbackForm)
		if err := r.ParseForm(); err != nil {
			renderMessage(w, http.StatusBadRequest, "Something went wrong", "Your answers could not be read. Please go back and try again.")
			return
		}
		sub, also, bad, at := submissionFromForm(r, claims, info)
		data.Form, data.Respondent = r.PostForm, r.PostForm.Get("respondent")
		if bad != "" {
			// Sent back: nothing is stored and the link stays usable.
			data.Error, data.ErrorAt = bad, at
			renderPage(w, http.StatusUnprocessableEntity, data)
			return
		}
		if _, err := db.SubmitLinkedFeedback(r.Context(), claims, sub, also...); err != nil {
			if care.ErrorCode(err) == care.EINVALID {
				data.Error = care.ErrorMessage(err)
				renderPage(w, http.StatusUnprocessableEntity, data)
				return
			}
			refuse(w, r, err)
			return
		}
		http.Redirect(w, r, "/feedback/thanks", http.StatusSeeOther)
	})
}

// refuse shows why a link cannot be used, with a 4xx status (500 for our faults).
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, feedback.ErrLinkTampered):
		renderMessage(w, http.StatusBadRequest, "This link does not work", care.ErrorMessage(err))
	case errors.Is(err, feedback.ErrLinkExpired):
		renderMessage(w, http.StatusGone, "This link has expired", care.ErrorMessage(err))
	case errors.Is(err, feedback.ErrLinkUsed):
		renderMessage(w, http.StatusConflict, "This link has been used", care.ErrorMessage(err))
	case errors.Is(err, feedback.ErrLinkWrongSubject):
		renderMessage(w, http.StatusForbidden, "This link is for something else", care.ErrorMessage(err))
	case care.ErrorCode(err) == care.ENOTFOUND:
		renderMessage(w, http.StatusNotFound, "This link does not work", "What this link asks about no longer exists. Thank you for wanting to help.")
	default:
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("feedback page")
		renderMessage(w, http.StatusInternalServerError, "Something went wrong", "Please try again later.")
	}
}

// submissionFromForm reads the form into a submission (and, for a CARE link
// that also asks the Friends and Family Test, the FFT answer as a second).
// When the form cannot be stored as it is — no respondent chosen, a CARE
// Measure that could not be scored, an unanswered FFT — it returns a message
// for the respondent and the id of the first input to fix; the page is then
// shown again with the answers kept and nothing stored.
func submissionFromForm(r *http.Request, c *feedback.LinkClaims, info *postgres.FeedbackLinkPage) (s feedback.Submission, also []feedback.Submission, msg, at string) {
	f := r.PostForm
	s = feedback.Submission{Instrument: c.Instrument, FreeText: f.Get("comment")}
	var problems []string
	problem := func(m, id string) {
		problems = append(problems, m)
		if at == "" {
			at = id
		}
	}
	switch f.Get("respondent") {
	case "patient":
		s.Respondent = feedback.RespondentPatient
	case "carer":
		s.Respondent = feedback.RespondentCarer
	default:
		problem("Please say who is answering: the patient, or a carer or family member.", "resp-patient")
	}
	kind, id, _ := strings.Cut(f.Get("subject"), ":")
	s.SubjectKind = feedback.SubjectKind(kind)
	s.SubjectID, _ = uuid.Parse(id)
	defer func() {
		if len(problems) > 0 {
			msg = strings.Join(problems, " ")
		}
	}()
	switch c.Instrument {
	case feedback.InstrumentCARE:
		s.CARERatings = make([]int, feedback.CAREItemCount)
		firstMissing := ""
		for i := range s.CARERatings {
			item := "care" + strconv.Itoa(i+1)
			v := f.Get(item)
			if v == "" {
				if firstMissing == "" {
					firstMissing = item + "-1"
				}
				continue // missing counts as does not apply
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 5 {
				problem("Please choose one of the answers for each statement.", item+"-1")
				return
			}
			s.CARERatings[i] = n
		}
		// A CARE Measure with more than CAREMaxMissing statements unanswered
		// or "does not apply" has no score (its published rule): rather than
		// store it and use up the link, ask again.
		if score, err := feedback.ScoreCARE(s.CARERatings); err == nil && !score.Scorable {
			if firstMissing == "" {
				firstMissing = "care1-1"
			}
			problem(fmt.Sprintf("Please rate at least %d of the %d statements: “Does not apply” can be chosen for up to %d of them.",
				feedback.CAREItemCount-feedback.CAREMaxMissing, feedback.CAREItemCount, feedback.CAREMaxMissing), firstMissing)
		}
		if c.AlsoFFT {
			a := feedback.FFTAnswer(f.Get("fft"))
			if !a.Valid() {
				problem("Please answer the last question, about your overall experience.", "fft-"+string(feedback.FFTAnswers[0]))
			} else {
				also = append(also, feedback.Submission{Instrument: feedback.InstrumentFFT, Respondent: s.Respondent,
					SubjectKind: s.SubjectKind, SubjectID: s.SubjectID, FFT: &a})
			}
		}
	case feedback.InstrumentFFT:
		a := feedback.FFTAnswer(f.Get("fft"))
		if !a.Valid() {
			problem("Please choose an answer to the question.", "fft-"+string(feedback.FFTAnswers[0]))
			return
		}
		s.FFT = &a
	case feedback.InstrumentQuestionnaire:
		if info.Questionnaire == nil {
			problem("This questionnaire is not available.", "")
			return
		}
		for _, q := range info.Questionnaire.Questions {
			v := strings.TrimSpace(f.Get("q_" + q.Key))
			if v == "" {
				continue
			}
			a := feedback.Answer{Key: q.Key}
			switch q.Kind {
			case feedback.QuestionRating:
				n, err := strconv.Atoi(v)
				if err != nil {
					problem("Please choose a rating.", "q_"+q.Key+"-1")
					return
				}
				a.Rating = &n
			case feedback.QuestionYesNo:
				yes := v == "yes"
				a.Yes = &yes
			case feedback.QuestionSingleChoice:
				a.Choice = &v
			case feedback.QuestionFreeText:
				a.Text = &v
			}
			s.Answers = append(s.Answers, a)
		}
	}
	return
}

// securePageHeaders sets the headers every feedback page carries: no
// caching, no referrer (the URL holds the token), no framing, nothing loaded
// but the page's own inline style sheet.
func securePageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src '"+styleHash+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// pageData is what the page template renders.
type pageData struct {
	Title      string
	Thanks     bool
	Message    string
	Token      string
	Subject    string
	Respondent string
	Claims     *feedback.LinkClaims
	Info       *postgres.FeedbackLinkPage
	Form       map[string][]string
	Error      string
	// ErrorAt is the id of the first input the error is about.
	ErrorAt string
}

// Checked reports whether the submitted form had value for name (to keep
// answers when the page is shown again).
func (d pageData) Checked(name, value string) bool {
	for _, v := range d.Form[name] {
		if v == value {
			return true
		}
	}
	return false
}

// Value returns the submitted value of name.
func (d pageData) Value(name string) string {
	if vs := d.Form[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func renderMessage(w http.ResponseWriter, status int, title, msg string) {
	renderPage(w, status, pageData{Title: title, Message: msg})
}

func renderPage(w http.ResponseWriter, status int, d pageData) {
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

const pageCSS = `
*{box-sizing:border-box}
body{margin:0;font:1.125rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#0b0c0c;background:#f3f2f1;overflow-wrap:break-word}
main{max-width:40rem;margin:0 auto;padding:1rem;background:#fff;min-height:100vh}
h1{font-size:1.75rem;line-height:1.2;margin:.5rem 0 1rem}
p{margin:0 0 1rem}
fieldset{border:0;border-top:1px solid #b1b4b6;margin:0 0 1rem;padding:.75rem 0 0;min-width:0}
legend{font-weight:700;padding:0;margin-bottom:.5rem;max-width:100%}
legend .step{font-weight:400;color:#505a5f}
legend .hint{display:block;font-weight:400;color:#505a5f;font-size:.9375rem;line-height:1.35}
.opt{display:block;position:relative;margin:0 0 .5rem}
.opt input{position:absolute;left:0;top:0;width:3rem;height:3rem;margin:0;opacity:0;cursor:pointer}
.opt label{display:flex;align-items:center;min-height:3rem;padding:.5rem .75rem .5rem 3.5rem;border:2px solid #0b0c0c;border-radius:.25rem;cursor:pointer}
.opt label::before{content:"";position:absolute;left:.6rem;top:.6rem;width:1.8rem;height:1.8rem;border:2px solid #0b0c0c;border-radius:50%;background:#fff}
.opt input:checked+label{background:#e8f1f8;border-color:#1d70b8;border-width:4px;padding-left:calc(3.5rem - 2px)}
.opt input:checked+label::after{content:"";position:absolute;left:1.1rem;top:1.1rem;width:0;height:0;border:.4rem solid #0b0c0c;border-radius:50%}
.opt input:focus+label{outline:3px solid #ffdd00;outline-offset:0;box-shadow:0 0 0 6px #0b0c0c}
.scale{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,5.5em),1fr));gap:.4rem}
.scale .opt{margin:0}
.scale .opt input{width:1px;height:1px}
.scale .opt label{justify-content:center;text-align:center;min-height:3rem;padding:.25rem .35rem;font-size:1rem;line-height:1.2}
.scale .opt label::before{content:none}
.scale .opt input:checked+label{padding-left:.35rem;background:#1d70b8;color:#fff;font-weight:700}
.scale .opt input:checked+label::before{content:"✓\00a0";position:static;width:auto;height:auto;border:0;background:none}
.scale .opt input:checked+label::after{content:none}
label.block{display:block;font-weight:700;margin-bottom:.5rem}
textarea{width:100%;min-height:7rem;font:inherit;padding:.5rem;border:2px solid #0b0c0c;border-radius:0}
textarea:focus{outline:3px solid #ffdd00;box-shadow:inset 0 0 0 2px #0b0c0c}
button{display:block;width:100%;min-height:3.25rem;font:inherit;font-weight:700;color:#fff;background:#00703c;border:0;border-bottom:3px solid #002d18;border-radius:.25rem;cursor:pointer;margin:1.5rem 0}
button:focus{outline:3px solid #ffdd00;outline-offset:0;background:#ffdd00;color:#0b0c0c}
.error{border:5px solid #d4351c;padding:.75rem 1rem;margin-bottom:1rem;color:#0b0c0c;background:#fff}
.error:focus{outline:3px solid #ffdd00}
.error strong{color:#d4351c}
.note{color:#505a5f;font-size:1rem}
@media (forced-colors:active){
.opt input:checked+label{outline:3px solid Highlight;outline-offset:2px}
.opt input:checked+label::after{border-color:CanvasText}
.opt input:focus+label{outline:3px dashed Highlight}
}
`

var styleHash = func() string {
	h := sha256.Sum256([]byte(pageCSS))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}()

// careItem is one CARE Measure item as the page shows it.
type careItem struct {
	N     int
	Title string
	Hint  string
}

var careItems = func() []careItem {
	out := make([]careItem, len(feedback.CAREItems))
	for i, s := range feedback.CAREItems {
		title, hint, _ := strings.Cut(s, " (")
		out[i] = careItem{N: i + 1, Title: title, Hint: strings.TrimSuffix(hint, ")")}
	}
	return out
}()

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"careItems":   func() []careItem { return careItems },
	"careLabels":  func() [6]string { return feedback.CARERatingLabels },
	"fftAnswers":  func() []feedback.FFTAnswer { return feedback.FFTAnswers },
	"fftQuestion": func() string { return feedback.FFTQuestion },
	"css":         func() template.CSS { return template.CSS(pageCSS) },
	"str":         toString,
	"itoa":        strconv.Itoa,
	"seq": func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i + 1
		}
		return out
	},
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{if .Error}}Error: {{end}}{{.Title}} – Rapport</title>
<style>{{css}}</style>
</head>
<body>
<main>
{{- if .Thanks}}
<h1>Thank you</h1>
<p>Your feedback has been received. It does not include your name, and it helps the team improve the care they give.</p>
<p>You can now close this page.</p>
{{- else if .Message}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- else}}
<h1>Tell us about your care</h1>
<p>{{if .Info.PractitionerName}}This is about your care from <strong>{{.Info.PractitionerName}}</strong>.{{else if .Info.TeamName}}This is about your care from <strong>{{.Info.TeamName}}</strong>.{{end}}
{{if eq (str .Claims.Instrument) "care_measure"}}There are 10 short statements to rate{{if .Claims.AlsoFFT}} and one question{{end}}; it takes about two minutes.{{else}}It takes about a minute.{{end}}
You do not need to give your name, and nothing you enter here is linked to you.</p>
{{- if .Error}}
<div class="error" role="alert" id="error" tabindex="-1" autofocus><strong>There is a problem:</strong> {{.Error}}{{if .ErrorAt}} <a href="#{{.ErrorAt}}">Go to the first one</a>.{{end}}</div>
{{- end}}
<form method="post" action="/feedback/{{.Token}}" novalidate>
<input type="hidden" name="subject" value="{{.Subject}}">
<fieldset>
<legend>Who is answering?</legend>
<div class="opt"><input type="radio" id="resp-patient" name="respondent" value="patient"{{if eq .Respondent "patient"}} checked{{end}}><label for="resp-patient">I am the patient</label></div>
<div class="opt"><input type="radio" id="resp-carer" name="respondent" value="carer"{{if eq .Respondent "carer"}} checked{{end}}><label for="resp-carer">I am a carer or family member</label></div>
</fieldset>
{{- if eq (str .Claims.Instrument) "care_measure"}}
<p><strong>{{if .Info.PractitionerName}}How was {{.Info.PractitionerName}} at…{{else}}How was the practitioner at…{{end}}</strong> Please rate each statement. Choose “Does not apply” if it does not.</p>
{{- $d := .}}
{{- range careItems}}{{$n := itoa .N}}
<fieldset>
<legend><span class="step">{{.N}} of 10 · </span>{{.Title}}<span class="hint">{{.Hint}}</span></legend>
<div class="scale">
{{- range $v := seq 5}}{{$val := itoa $v}}
<div class="opt"><input type="radio" id="care{{$n}}-{{$val}}" name="care{{$n}}" value="{{$val}}"{{if $d.Checked (print "care" $n) $val}} checked{{end}}><label for="care{{$n}}-{{$val}}">{{index careLabels $v}}</label></div>
{{- end}}
<div class="opt na"><input type="radio" id="care{{$n}}-0" name="care{{$n}}" value="0"{{if $d.Checked (print "care" $n) "0"}} checked{{end}}><label for="care{{$n}}-0">Does not apply</label></div>
</div>
</fieldset>
{{- end}}
{{- if .Claims.AlsoFFT}}{{template "fft" .}}{{end}}
{{- else if eq (str .Claims.Instrument) "fft"}}
{{- template "fft" .}}
{{- else if .Info.Questionnaire}}
{{- $d := .}}
<h2>{{.Info.Questionnaire.Title}}</h2>
{{- range .Info.Questionnaire.Questions}}{{$name := print "q_" .Key}}
{{- if eq (str .Kind) "free_text"}}
<div><label class="block" for="{{$name}}">{{.Text}}{{if not .Required}} (optional){{end}}</label>
<textarea id="{{$name}}" name="{{$name}}" maxlength="4000">{{$d.Value $name}}</textarea></div>
{{- else}}
<fieldset>
<legend>{{.Text}}{{if not .Required}} <span class="hint">Optional</span>{{end}}</legend>
{{- if eq (str .Kind) "yes_no"}}
<div class="opt"><input type="radio" id="{{$name}}-yes" name="{{$name}}" value="yes"{{if $d.Checked $name "yes"}} checked{{end}}><label for="{{$name}}-yes">Yes</label></div>
<div class="opt"><input type="radio" id="{{$name}}-no" name="{{$name}}" value="no"{{if $d.Checked $name "no"}} checked{{end}}><label for="{{$name}}-no">No</label></div>
{{- else if eq (str .Kind) "rating"}}
<div class="scale">{{range $v := seq .ScaleMax}}{{$val := itoa $v}}
<div class="opt"><input type="radio" id="{{$name}}-{{$val}}" name="{{$name}}" value="{{$val}}"{{if $d.Checked $name $val}} checked{{end}}><label for="{{$name}}-{{$val}}">{{$val}}</label></div>{{end}}
</div>
{{- else}}
{{- range $i, $o := .Options}}
<div class="opt"><input type="radio" id="{{$name}}-{{$i}}" name="{{$name}}" value="{{$o}}"{{if $d.Checked $name $o}} checked{{end}}><label for="{{$name}}-{{$i}}">{{$o}}</label></div>
{{- end}}
{{- end}}
</fieldset>
{{- end}}
{{- end}}
{{- end}}
<div><label class="block" for="comment">Anything else you would like to tell us? (optional)</label>
<p class="note" id="comment-hint">Please do not include names or other personal details.</p>
<textarea id="comment" name="comment" maxlength="4000" aria-describedby="comment-hint">{{.Value "comment"}}</textarea></div>
<button type="submit">Send feedback</button>
</form>
{{- end}}
</main>
</body>
</html>
{{- define "fft"}}
{{- $d := .}}
<fieldset>
<legend>{{if .Claims.AlsoFFT}}<span class="step">Last question · </span>{{end}}{{fftQuestion}}</legend>
{{- range fftAnswers}}
<div class="opt"><input type="radio" id="fft-{{.}}" name="fft" value="{{.}}"{{if $d.Checked "fft" (str .)}} checked{{end}}><label for="fft-{{.}}">{{.Label}}</label></div>
{{- end}}
</fieldset>
{{- end}}
`))

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	case feedback.Instrument:
		return string(x)
	case feedback.QuestionKind:
		return string(x)
	case feedback.FFTAnswer:
		return string(x)
	}
	return ""
}
