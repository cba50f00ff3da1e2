package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// seedActor marks rows the seed wrote, so that a second seed knows what is there.
const seedActor = "seed"

type seedCategory struct {
	slug, name string
	topics     []string
}

type seedDirection struct {
	slug, name string
	categories []seedCategory
}

// The demo catalog: directions and categories of an IT-course platform, and the topics
// course titles are made of.
var seedTree = []seedDirection{
	{"python", "Python开发", []seedCategory{
		{"python-basics", "Python基础", []string{"Python入门", "Python函数式编程", "Python面向对象", "Python并发编程", "Python标准库"}},
		{"python-web", "Python Web", []string{"Django", "Flask", "FastAPI", "Django REST framework", "Celery任务队列"}},
		{"python-crawler", "爬虫开发", []string{"Scrapy爬虫", "Requests与解析", "反爬与代理池", "分布式爬虫"}},
	}},
	{"go", "Go语言", []seedCategory{
		{"go-basics", "Go基础", []string{"Go语言入门", "Go并发模型", "Go接口与泛型", "Go标准库"}},
		{"go-microservices", "Go微服务", []string{"gRPC微服务", "Gin框架", "Go高性能服务", "服务治理"}},
	}},
	{"frontend", "前端开发", []seedCategory{
		{"javascript", "JavaScript", []string{"JavaScript核心", "TypeScript", "ES6+新特性", "Node.js"}},
		{"vue", "Vue", []string{"Vue3", "Vue全家桶", "Nuxt服务端渲染", "前端工程化"}},
		{"react", "React", []string{"React Hooks", "Next.js", "React Native", "状态管理"}},
	}},
	{"ops", "Linux运维", []seedCategory{
		{"linux", "Linux", []string{"Linux基础", "Shell编程", "Nginx", "Linux性能调优"}},
		{"cloud-native", "云原生", []string{"Docker容器", "Kubernetes", "CI/CD流水线", "Prometheus监控"}},
		{"security", "网络安全", []string{"Web安全", "渗透测试", "安全运维", "密码学基础"}},
	}},
	{"data", "数据分析", []seedCategory{
		{"data-analysis", "数据分析", []string{"Pandas数据分析", "数据可视化", "Excel与SQL分析", "统计学基础"}},
		{"databases", "数据库", []string{"MySQL", "PostgreSQL", "Redis", "MongoDB"}},
	}},
	{"ai", "人工智能", []seedCategory{
		{"machine-learning", "机器学习", []string{"机器学习算法", "scikit-learn", "特征工程", "推荐系统"}},
		{"deep-learning", "深度学习", []string{"PyTorch", "计算机视觉", "自然语言处理", "大模型应用开发"}},
	}},
	{"java", "Java", []seedCategory{
		{"java-basics", "Java基础", []string{"Java核心", "Java并发", "JVM原理", "设计模式"}},
		{"spring", "Spring", []string{"Spring Boot", "Spring Cloud", "MyBatis", "分布式事务"}},
	}},
}

var seedTeachers = []struct{ name, title, bio string }{
	{"林一鸣", "高级讲师", "十年后端开发经验，主讲 Python 与 Django。"},
	{"周若溪", "资深讲师", "前大型互联网公司架构师，主讲 Go 与微服务。"},
	{"陈思远", "讲师", "全栈工程师，主讲前端与 Node.js。"},
	{"王立新", "高级讲师", "运维与云原生方向，CKA 认证。"},
	{"赵晓婷", "讲师", "数据分析师，主讲数据分析与可视化。"},
	{"孙浩然", "资深讲师", "算法工程师，主讲机器学习与深度学习。"},
	{"李明哲", "讲师", "Java 后端工程师，主讲 Spring 全家桶。"},
	{"吴佳怡", "助教组长", "负责作业批改与学习答疑。"},
	{"郑凯", "高级讲师", "安全研究员，主讲 Web 安全与渗透测试。"},
	{"冯雨桐", "讲师", "数据库内核爱好者，主讲 MySQL 与 PostgreSQL。"},
	{"何俊", "讲师", "爬虫与自动化方向。"},
	{"许诺", "资深讲师", "前端架构师，主讲 React 与工程化。"},
}

var typeSuffix = map[CourseType][]string{
	TypeEmployment: {"全栈开发就业班", "高级工程师就业班", "从零到就业"},
	TypeLight:      {"核心技术精讲", "入门到精通", "进阶课"},
	TypePractical:  {"项目实战", "实战小课", "企业案例实战"},
	TypeFree:       {"免费入门课", "快速上手", "公开课"},
}

// coursePlan is one generated course. It is a pure function of the course's index, so
// that each COPY pass can regenerate exactly the rows the others wrote.
type coursePlan struct {
	typ       CourseType
	category  int // index into the flattened category list
	title     string
	level     string
	teachers  []int
	chapters  []chapterPlan
	docs      int
	policies  []PolicyInput
	durationS int32
}

type chapterPlan struct {
	title    string
	topic    string
	lessons  []int32 // durations in seconds
	homework bool
}

type flatCategory struct {
	dir, cat int
}

func flatCategories() []flatCategory {
	var out []flatCategory
	for d, dir := range seedTree {
		for c := range dir.categories {
			out = append(out, flatCategory{d, c})
		}
	}
	return out
}

var seedLevels = []string{"beginner", "intermediate", "advanced"}
var seedTypes = []CourseType{TypeLight, TypeLight, TypePractical, TypePractical, TypeEmployment, TypeFree}

func planCourse(i int, cats []flatCategory) coursePlan {
	r := rand.New(rand.NewPCG(uint64(i), 0x10ff7))
	p := coursePlan{typ: seedTypes[r.IntN(len(seedTypes))], category: i % len(cats), level: seedLevels[r.IntN(3)]}
	fc := cats[p.category]
	cat := seedTree[fc.dir].categories[fc.cat]
	topic := cat.topics[r.IntN(len(cat.topics))]
	suffixes := typeSuffix[p.typ]
	p.title = topic + suffixes[r.IntN(len(suffixes))]
	p.teachers = []int{r.IntN(len(seedTeachers))}
	if r.IntN(3) == 0 {
		if t := r.IntN(len(seedTeachers)); t != p.teachers[0] {
			p.teachers = append(p.teachers, t)
		}
	}
	nChapters := 3 + r.IntN(4)
	if p.typ == TypeEmployment {
		nChapters = 8 + r.IntN(5)
	}
	p.chapters = make([]chapterPlan, nChapters)
	for c := range p.chapters {
		ch := &p.chapters[c]
		ch.topic = topic + chapterTopics[(c+i)%len(chapterTopics)]
		ch.title = "第" + strconv.Itoa(c+1) + "章 " + ch.topic
		ch.lessons = make([]int32, 3+r.IntN(4))
		for l := range ch.lessons {
			ch.lessons[l] = int32(300 + r.IntN(1200))
			p.durationS += ch.lessons[l]
		}
		ch.homework = p.typ != TypeFree
	}
	p.docs = 1 + r.IntN(2)
	base := int64(99+r.IntN(400)) * 100
	switch p.typ {
	case TypeFree:
		p.policies = nil
	case TypeEmployment:
		base *= 20
		fallthrough
	default:
		d30, d180 := int32(30), int32(180)
		p.policies = []PolicyInput{
			{Title: "1个月", ValidDays: &d30, PriceFen: base, OriginalPriceFen: base * 3 / 2},
			{Title: "6个月", ValidDays: &d180, PriceFen: base * 2, OriginalPriceFen: base * 3},
			{Title: "永久有效", PriceFen: base * 3, OriginalPriceFen: base * 4},
		}
	}
	return p
}

var chapterTopics = []string{"概述与环境搭建", "基础语法", "核心原理", "常用模式", "项目实践", "性能优化", "测试与部署", "综合案例"}

// SeedResult says what Seed added.
type SeedResult struct {
	Courses, Chapters, Lessons int
	Took                       time.Duration
}

// Seed makes the catalog hold at least n seeded courses: the category tree and teachers
// when missing, then courses n0..n-1 where n0 seeded courses already exist, with their
// chapters, lessons, homework, documents and price policies. All rows go in by COPY in one
// transaction, so a crash leaves no half-seeded catalog, and 100,000 courses take seconds.
func Seed(ctx context.Context, pool *pgxpool.Pool, n int) (SeedResult, error) {
	start := time.Now()
	var res SeedResult
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// One seed at a time; a concurrent one waits and then finds the work done.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7261001)`); err != nil {
			return err
		}
		catIDs, err := seedCategories(ctx, tx)
		if err != nil {
			return err
		}
		teacherIDs, err := seedTeacherRows(ctx, tx)
		if err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM courses WHERE created_by_name = $1`, seedActor).Scan(&have); err != nil {
			return err
		}
		if have >= n {
			return nil
		}
		if n-have < bulkThreshold {
			return seedCourses(ctx, tx, have, n, catIDs, teacherIDs, &res)
		}
		return withoutForeignKeys(ctx, tx, func() error {
			return seedCourses(ctx, tx, have, n, catIDs, teacherIDs, &res)
		})
	})
	res.Took = time.Since(start)
	return res, err
}

// bulkThreshold is the number of new courses from which Seed drops the catalog's foreign
// keys for the COPY and adds them back after: Postgres checks a re-added key with one join
// instead of a lookup per row, which turns minutes into seconds for 100,000 courses.
const bulkThreshold = 5000

var seedTables = []string{"course_teachers", "chapters", "lessons", "homework", "documents", "price_policies", "courses"}

// withoutForeignKeys runs fn with the foreign keys of the seeded tables dropped, then adds
// them back, validated, in the same transaction: the keys hold at commit as before.
func withoutForeignKeys(ctx context.Context, tx pgx.Tx, fn func() error) error {
	rows, err := tx.Query(ctx, `
		SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE contype = 'f' AND conrelid = ANY($1::regclass[])`, seedTables)
	if err != nil {
		return fmt.Errorf("list foreign keys: %w", err)
	}
	type fk struct{ table, name, def string }
	fks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fk, error) {
		var f fk
		return f, r.Scan(&f.table, &f.name, &f.def)
	})
	if err != nil {
		return fmt.Errorf("list foreign keys: %w", err)
	}
	// The change triggers would copy every row into a transition table only to say "all";
	// they are off for the load, and one notification says it instead.
	for _, t := range seedTables {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{t}.Sanitize()+` DISABLE TRIGGER USER`); err != nil {
			return fmt.Errorf("pause triggers of %s: %w", t, err)
		}
	}
	for _, f := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, pgx.Identifier{f.table}.Sanitize(), pgx.Identifier{f.name}.Sanitize())); err != nil {
			return fmt.Errorf("drop %s: %w", f.name, err)
		}
	}
	if err := fn(); err != nil {
		return err
	}
	defer func(start time.Time) { slog.Debug("seed restored foreign keys", "took", time.Since(start)) }(time.Now())
	for _, f := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, pgx.Identifier{f.table}.Sanitize(), pgx.Identifier{f.name}.Sanitize(), f.def)); err != nil {
			return fmt.Errorf("restore %s: %w", f.name, err)
		}
	}
	for _, t := range seedTables {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{t}.Sanitize()+` ENABLE TRIGGER USER`); err != nil {
			return fmt.Errorf("resume triggers of %s: %w", t, err)
		}
	}
	_, err = tx.Exec(ctx, `SELECT pg_notify('catalog_changed', 'all')`)
	return err
}

func seedCategories(ctx context.Context, tx pgx.Tx) ([]int64, error) {
	var ids []int64
	for d, dir := range seedTree {
		var dirID int64
		err := tx.QueryRow(ctx, `
			INSERT INTO categories (level, name, slug, sort_code, created_by_name, deletable)
			VALUES (1, $1, $2, $3, $4, false)
			ON CONFLICT (slug) WHERE deleted_at IS NULL DO UPDATE SET slug = EXCLUDED.slug RETURNING id`,
			dir.name, dir.slug, (d+1)*10, seedActor).Scan(&dirID)
		if err != nil {
			return nil, fmt.Errorf("seed direction %s: %w", dir.slug, err)
		}
		for c, cat := range dir.categories {
			var id int64
			err := tx.QueryRow(ctx, `
				INSERT INTO categories (parent_id, level, name, slug, sort_code, created_by_name)
				VALUES ($1, 2, $2, $3, $4, $5)
				ON CONFLICT (slug) WHERE deleted_at IS NULL DO UPDATE SET slug = EXCLUDED.slug RETURNING id`,
				dirID, cat.name, cat.slug, (c+1)*10, seedActor).Scan(&id)
			if err != nil {
				return nil, fmt.Errorf("seed category %s: %w", cat.slug, err)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func seedTeacherRows(ctx context.Context, tx pgx.Tx) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM teachers WHERE created_by_name = $1 ORDER BY id`, seedActor)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) == len(seedTeachers) {
		return ids, err
	}
	ids = ids[:0]
	for i, t := range seedTeachers {
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO teachers (name, title, bio, sort_code, created_by_name) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			t.name, t.title, t.bio, i*10, seedActor).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("seed teacher: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// reserveIDs moves the identity sequence of table past n ids and returns the first.
func reserveIDs(ctx context.Context, tx pgx.Tx, table string, n int) (int64, error) {
	var first int64
	err := tx.QueryRow(ctx, fmt.Sprintf(`
		WITH cur AS (SELECT GREATEST((SELECT COALESCE(max(id), 0) FROM %[1]s),
			(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %[2]s)) AS v)
		SELECT setval('%[2]s', (SELECT v FROM cur) + $1) - $1 + 1`, table, table+"_id_seq"), n).Scan(&first)
	if err != nil {
		return 0, fmt.Errorf("reserve %d ids in %s: %w", n, table, err)
	}
	return first, nil
}

// copyRows streams rows made by next (which returns false when done) into table.
func copyRows(ctx context.Context, tx pgx.Tx, table string, cols []string, next func(row []any) bool) (int64, error) {
	row := make([]any, len(cols))
	var done bool
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if done || !next(row) {
			done = true
			return nil, nil
		}
		return row, nil
	})
	start := time.Now()
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
	slog.Debug("seed copy", "table", table, "rows", n, "took", time.Since(start))
	if err != nil {
		return n, fmt.Errorf("copy into %s: %w", table, err)
	}
	return n, nil
}

func seedCourses(ctx context.Context, tx pgx.Tx, from, to int, catIDs, teacherIDs []int64, res *SeedResult) error {
	cats := flatCategories()
	count := to - from
	chapterStart := make([]int64, count+1) // chapter index of course from+k
	for k := range count {
		chapterStart[k+1] = chapterStart[k] + int64(len(planCourse(from+k, cats).chapters))
	}
	courseBase, err := reserveIDs(ctx, tx, "courses", count)
	if err != nil {
		return err
	}
	chapterBase, err := reserveIDs(ctx, tx, "chapters", int(chapterStart[count]))
	if err != nil {
		return err
	}
	// each pass walks the same plans; plan and k are its cursor
	pass := func(table string, cols []string, emit func(k int, p *coursePlan, out func(...any))) (int64, error) {
		k, queue := 0, [][]any{}
		return copyRows(ctx, tx, table, cols, func(row []any) bool {
			for len(queue) == 0 {
				if k == count {
					return false
				}
				p := planCourse(from+k, cats)
				emit(k, &p, func(v ...any) { queue = append(queue, v) })
				k++
			}
			copy(row, queue[0])
			queue = queue[1:]
			return true
		})
	}
	courseID := func(k int) int64 { return courseBase + int64(k) }
	chapterID := func(k, c int) int64 { return chapterBase + chapterStart[k] + int64(c) }

	n, err := pass("courses", []string{"id", "slug", "title", "subtitle", "course_type", "category_id", "level", "brief",
		"cover_url", "duration_seconds", "status", "sort_code", "created_by_name"},
		func(k int, p *coursePlan, out func(...any)) {
			i := from + k
			out(courseID(k), fmt.Sprintf("course-%06d", i+1), p.title, fmt.Sprintf("%d章 · %s", len(p.chapters), p.level),
				string(p.typ), catIDs[p.category], p.level,
				"本课程系统讲解"+p.title+"，配套作业、答疑与项目练习。",
				fmt.Sprintf("/static/covers/%d.jpg", i%48), p.durationS, "published", int32((i+1)*10), seedActor)
		})
	if err != nil {
		return err
	}
	res.Courses = int(n)
	if _, err := pass("course_teachers", []string{"course_id", "teacher_id", "sort_code", "created_by_name"},
		func(k int, p *coursePlan, out func(...any)) {
			for j, t := range p.teachers {
				out(courseID(k), teacherIDs[t%len(teacherIDs)], int32(j), seedActor)
			}
		}); err != nil {
		return err
	}
	n, err = pass("chapters", []string{"id", "course_id", "title", "sort_code", "created_by_name"},
		func(k int, p *coursePlan, out func(...any)) {
			for c, ch := range p.chapters {
				out(chapterID(k, c), courseID(k), ch.title, int32(c+1), seedActor)
			}
		})
	if err != nil {
		return err
	}
	res.Chapters = int(n)
	n, err = pass("lessons", []string{"course_id", "chapter_id", "title", "duration_seconds", "free_preview", "sort_code", "created_by_name"},
		func(k int, p *coursePlan, out func(...any)) {
			for c, ch := range p.chapters {
				for l, d := range ch.lessons {
					free := p.typ == TypeFree || (c == 0 && l < 2)
					title := strconv.Itoa(c+1) + "." + strconv.Itoa(l+1) + " " + ch.topic + "（" + strconv.Itoa(l+1) + "）"
					out(courseID(k), chapterID(k, c), title, d, free, int32(l+1), seedActor)
				}
			}
		})
	if err != nil {
		return err
	}
	res.Lessons = int(n)
	if _, err := pass("homework", []string{"course_id", "chapter_id", "title", "sort_code", "created_by_name"},
		func(k int, p *coursePlan, out func(...any)) {
			for c, ch := range p.chapters {
				if ch.homework {
					out(courseID(k), chapterID(k, c), fmt.Sprintf("第%d章作业", c+1), int32(1), seedActor)
				}
			}
		}); err != nil {
		return err
	}
	if _, err := pass("documents", []string{"course_id", "title", "object_key", "size_bytes", "sort_code", "created_by_name"},
		func(k int, p *coursePlan, out func(...any)) {
			for d := range p.docs {
				out(courseID(k), fmt.Sprintf("%s 课件 %d.pdf", p.title, d+1), fmt.Sprintf("docs/course-%d/%d.pdf", from+k+1, d+1),
					int64(200_000+d*150_000), int32(d+1), seedActor)
			}
		}); err != nil {
		return err
	}
	if _, err := pass("price_policies", []string{"course_id", "title", "valid_days", "price_fen", "original_price_fen", "sort_code", "created_by_name"},
		func(k int, p *coursePlan, out func(...any)) {
			for j, pp := range p.policies {
				out(courseID(k), pp.Title, pp.ValidDays, pp.PriceFen, pp.OriginalPriceFen, int32(j+1), seedActor)
			}
		}); err != nil {
		return err
	}
	return nil
}
