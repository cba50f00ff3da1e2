// Package learning is what students and tutors do around a course besides watching it:
// homework submissions (text and files, every resubmission a new version) that the
// course's assigned tutor grades, and questions about a lesson that the tutor answers.
//
// Files go to the object store before the rows that name them are inserted, so a crash
// leaves at worst an orphan object, never a row without its object. Grading notifies the
// student and awards points for a pass in the grading transaction. A question's timers
// (to the public pool after 2 working hours, back to the pool an hour after being taken,
// escalated after 24 hours) are river jobs inserted in the transaction that starts them;
// each re-checks the question under a row lock and does nothing once it has moved on, so
// a late or repeated run changes nothing.
package learning
