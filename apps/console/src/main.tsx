import { render } from "preact"
import { App } from "./App.tsx"
import * as Session from "./Session.ts"
import "./styles.css"

// A key in the link's fragment (`tally demo` prints such a link) signs in at once.
Session.takeFromFragment()
render(<App />, document.getElementById("app")!)
