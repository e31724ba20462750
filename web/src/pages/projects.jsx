// TEMPORARY: replaced before commit
export function ProjectsPage() { return <p>todo</p>; }
export function ProjectPage() { return <p>todo</p>; }
