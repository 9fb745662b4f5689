// Loads a polkit .rules file the way polkitd does (a fresh global scope that
// holds only the `polkit` object) and answers, for each question read from
// stdin as JSON [{user, groups, action}], the result the rules give: the
// first one that is not NOT_HANDLED, or null when none decides.
"use strict";
const fs = require("fs");
const vm = require("vm");

const rules = [];
const polkit = {
    Result: {
        NO: "no",
        YES: "yes",
        AUTH_SELF: "auth_self",
        AUTH_SELF_KEEP: "auth_self_keep",
        AUTH_ADMIN: "auth_admin",
        AUTH_ADMIN_KEEP: "auth_admin_keep",
        NOT_HANDLED: null,
    },
    addRule: (rule) => rules.push(rule),
    addAdminRule: () => {},
    log: () => {},
    spawn: () => {
        throw new Error("a rule spawned a program");
    },
};
Object.freeze(polkit.Result);

const context = vm.createContext({ polkit });
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), context, { filename: process.argv[2] });
if (rules.length === 0) {
    throw new Error("the file adds no rule");
}

function subject(user, groups) {
    return {
        pid: 4242,
        user,
        groups,
        seat: null,
        session: null,
        local: false,
        active: false,
        isInGroup: (g) => groups.indexOf(g) >= 0,
        isInNetGroup: () => false,
    };
}

function action(id) {
    return { id, lookup: () => undefined };
}

const questions = JSON.parse(fs.readFileSync(0, "utf8"));
const answers = questions.map((q) => {
    for (const rule of rules) {
        const result = rule(action(q.action), subject(q.user, q.groups));
        if (result !== null && result !== undefined) {
            return result;
        }
    }
    return null;
});
process.stdout.write(JSON.stringify(answers));
