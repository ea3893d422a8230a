/**
 * A real browser for the console's tests: Playwright (`playwright-core`, no browser download)
 * driving Debian's Chromium. The flags keep Chromium from reaching out (background networking,
 * component updates, sync): on a machine without a network those connections are refused, and a
 * test must not depend on them anyway. Each launch gets a fresh profile directory (Playwright
 * makes one per launch and removes it on close).
 */
import { existsSync } from "node:fs"
import { type Browser, chromium, type ConsoleMessage, type Page } from "playwright-core"

export const chromiumPath = process.env["TALLY_CHROMIUM"] ?? "/usr/bin/chromium"

export const available = () => existsSync(chromiumPath)

export interface Launched {
  readonly browser: Browser
  readonly close: () => Promise<void>
}

export const launch = async (): Promise<Launched> => {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage"
    ]
  })
  return {
    browser,
    close: () => browser.close()
  }
}

/** What a page reported that a person would see as broken: console errors, uncaught exceptions, requests that left this machine or failed. */
export interface Problems {
  readonly list: Array<string>
}

export const watch = (page: Page, origin: string): Problems => {
  const list: Array<string> = []
  page.on("console", (message: ConsoleMessage) => {
    if (message.type() === "error") list.push(`console error on ${page.url()}: ${message.text()}`)
  })
  page.on("pageerror", (error) => list.push(`uncaught on ${page.url()}: ${error.message}`))
  page.on("request", (request) => {
    const url = request.url()
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:")) list.push(`request left the worker: ${url}`)
  })
  page.on("requestfailed", (request) => {
    // A download's blob URL and a navigation away cancel requests; neither is a failure a person sees.
    const reason = request.failure()?.errorText ?? ""
    if (!reason.includes("ERR_ABORTED")) list.push(`request failed: ${request.url()} ${reason}`)
  })
  return { list }
}
