package catalog

import "time"

// CourseType is what kind of product a course is.
type CourseType string

const (
	TypeEmployment CourseType = "employment" // 就业课: a long programme aimed at a job
	TypeLight      CourseType = "light"      // 轻课: a short paid course
	TypePractical  CourseType = "practical"  // 实战小课: a practical mini course, one project
	TypeFree       CourseType = "free"       // 免费课
)

// Valid reports whether t is one of the four course types.
func (t CourseType) Valid() bool {
	switch t {
	case TypeEmployment, TypeLight, TypePractical, TypeFree:
		return true
	}
	return false
}

// Direction is a top-level category (e.g. Python, Go) with its categories.
type Direction struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Slug       string     `json:"slug"`
	SortCode   int32      `json:"sort_code"`
	Categories []Category `json:"categories"`
}

// Category is a second-level category that courses belong to.
type Category struct {
	ID       int64  `json:"id"`
	ParentID int64  `json:"parent_id"`
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	SortCode int32  `json:"sort_code"`
}

// CourseSummary is a course as list pages show it.
type CourseSummary struct {
	ID              int64      `json:"id"`
	Slug            string     `json:"slug"`
	Title           string     `json:"title"`
	Subtitle        string     `json:"subtitle"`
	Type            CourseType `json:"type"`
	CategoryID      int64      `json:"category_id"`
	Level           string     `json:"level"`
	CoverURL        string     `json:"cover_url"`
	DurationSeconds int32      `json:"duration_seconds"`
	LessonCount     int64      `json:"lesson_count"`
	// PriceFromFen is the cheapest enabled price policy; null when the course has none.
	PriceFromFen *int64 `json:"price_from_fen"`
	SortCode     int32  `json:"sort_code"`
}

// Page is one page of a keyset-paginated list.
type Page struct {
	Items []CourseSummary `json:"items"`
	// NextCursor fetches the page after this one; null on the last page.
	NextCursor *string `json:"next_cursor"`
}

// Course is a course with everything its detail page shows.
type Course struct {
	CourseSummary
	Brief         string        `json:"brief"`
	Category      Category      `json:"category"`
	Direction     Category      `json:"direction"`
	Teachers      []Teacher     `json:"teachers"`
	Chapters      []Chapter     `json:"chapters"`
	Documents     []Document    `json:"documents"`
	PricePolicies []PricePolicy `json:"price_policies"`
	UpdatedAt     time.Time     `json:"updated_at"`
}

// Teacher teaches courses.
type Teacher struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Title     string `json:"title"`
	Bio       string `json:"bio"`
	AvatarURL string `json:"avatar_url"`
}

// Chapter groups a course's lessons and homework.
type Chapter struct {
	ID       int64      `json:"id"`
	Title    string     `json:"title"`
	Summary  string     `json:"summary"`
	SortCode int32      `json:"sort_code"`
	Lessons  []Lesson   `json:"lessons"`
	Homework []Homework `json:"homework"`
}

// Lesson is one video (or document or exercise) of a chapter. VideoID names the ingested
// HLS ladder, if any; FreePreview lessons play for anyone.
type Lesson struct {
	ID              int64   `json:"id"`
	Title           string  `json:"title"`
	Type            string  `json:"type"`
	FreePreview     bool    `json:"free_preview"`
	VideoID         *string `json:"video_id"`
	DurationSeconds int32   `json:"duration_seconds"`
	SortCode        int32   `json:"sort_code"`
}

// Homework is the title of a chapter's assignment.
type Homework struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
}

// Document is a downloadable course document.
type Document struct {
	ID        int64  `json:"id"`
	ChapterID *int64 `json:"chapter_id"`
	Title     string `json:"title"`
	SizeBytes int64  `json:"size_bytes"`
}

// PricePolicy sells access to a course for ValidDays (nil: permanent) at PriceFen.
type PricePolicy struct {
	ID               int64  `json:"id"`
	Title            string `json:"title"`
	ValidDays        *int32 `json:"valid_days"`
	PriceFen         int64  `json:"price_fen"`
	OriginalPriceFen int64  `json:"original_price_fen"`
}
