package respond

// ActionApproval stops a playbook until a person approves the steps after
// it (or rejects them); the runner carries it out itself (see run and
// Decide), and no one runs it by hand.
const ActionApproval Action = "approval"

func init() {
	registerAction(actionSpec{name: ActionApproval})
}
