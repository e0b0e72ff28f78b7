/**
 * Scanners and attack tools that name themselves, and the markers scanners leave in requests.
 * Data only: `builtin.ts` turns these lists into rules. Every entry says where its identity comes
 * from, so a reviewer can check it and an operator can tell why a request was flagged.
 */

/** A tool recognised by its user agent. */
export interface ToolIdentity {
  /** The tool's name as people know it. */
  name: string;
  /** Lower-case substrings of the user agents it sends by default. */
  agents: readonly string[];
  /** Where the identity comes from: the tool's own source or documentation, or a curated list. */
  references: readonly string[];
}

/** A string a scanner puts into the requests it sends (payload, domain, test file name). */
export interface ScannerMarker {
  name: string;
  /** Lower-case substrings, looked for in the request line, user agent, referer and X-Forwarded-For. */
  markers: readonly string[];
  references: readonly string[];
}

/** OWASP Core Rule Set, the curated list of scanner user agents (rule 913100). */
const CRS = 'https://github.com/coreruleset/coreruleset/blob/main/rules/scanners-user-agents.data';

/** Scanners and attack tools by user agent. */
export const SCANNER_TOOLS: readonly ToolIdentity[] = [
  { name: 'Nikto', agents: ['nikto'], references: ['https://github.com/sullo/nikto', CRS] },
  { name: 'sqlmap', agents: ['sqlmap'], references: ['https://github.com/sqlmapproject/sqlmap', CRS] },
  { name: 'Nuclei', agents: ['nuclei', 'projectdiscovery'], references: ['https://github.com/projectdiscovery/nuclei', CRS] },
  { name: 'Nmap Scripting Engine', agents: ['nmap scripting engine', 'nmap'], references: ['https://nmap.org/book/nse.html', CRS] },
  { name: 'masscan', agents: ['masscan'], references: ['https://github.com/robertdavidgraham/masscan', CRS] },
  { name: 'ZGrab', agents: ['zgrab'], references: ['https://github.com/zmap/zgrab2', CRS] },
  { name: 'WPScan', agents: ['wpscan'], references: ['https://github.com/wpscanteam/wpscan', CRS] },
  { name: 'Acunetix', agents: ['acunetix'], references: ['https://www.acunetix.com/', CRS] },
  { name: 'Netsparker / Invicti', agents: ['netsparker', 'invicti'], references: ['https://www.invicti.com/', CRS] },
  { name: 'w3af', agents: ['w3af'], references: ['https://github.com/andresriancho/w3af', CRS] },
  { name: 'Arachni', agents: ['arachni'], references: ['https://github.com/Arachni/arachni', CRS] },
  { name: 'OpenVAS / Greenbone', agents: ['openvas', 'greenbone'], references: ['https://github.com/greenbone/openvas-scanner', CRS] },
  { name: 'Nessus', agents: ['nessus'], references: ['https://www.tenable.com/products/nessus', CRS] },
  { name: 'Burp Suite', agents: ['burpsuite', 'burp suite', 'burpcollaborator'], references: ['https://portswigger.net/burp'] },
  { name: 'ffuf', agents: ['fuzz faster u fool'], references: ['https://github.com/ffuf/ffuf', CRS] },
  { name: 'gobuster', agents: ['gobuster'], references: ['https://github.com/OJ/gobuster', CRS] },
  { name: 'DirBuster', agents: ['dirbuster'], references: ['https://sourceforge.net/projects/dirbuster/', CRS] },
  { name: 'feroxbuster', agents: ['feroxbuster'], references: ['https://github.com/epi052/feroxbuster', CRS] },
  { name: 'wfuzz', agents: ['wfuzz'], references: ['https://github.com/xmendez/wfuzz', CRS] },
  { name: 'THC Hydra', agents: ['mozilla/4.0 (hydra)', 'mozilla/5.0 (hydra)'], references: ['https://github.com/vanhauser-thc/thc-hydra', CRS] },
  { name: 'Havij', agents: ['havij'], references: [CRS] },
  { name: 'ZmEu', agents: ['zmeu'], references: [CRS] },
  { name: 'Morfeus', agents: ['morfeus'], references: [CRS] },
  { name: 'Jorgee', agents: ['jorgee'], references: [CRS] },
  { name: 'fimap', agents: ['fimap'], references: ['https://github.com/kurobeats/fimap', CRS] },
  { name: 'commix', agents: ['commix'], references: ['https://github.com/commixproject/commix', CRS] },
  { name: 'XSStrike', agents: ['xsstrike'], references: ['https://github.com/s0md3v/XSStrike', CRS] },
  { name: 'XSSer', agents: ['xsser'], references: ['https://github.com/epsylon/xsser', CRS] },
  { name: 'skipfish', agents: ['skipfish'], references: ['https://github.com/spinkham/skipfish', CRS] },
  { name: 'WhatWeb', agents: ['whatweb'], references: ['https://github.com/urbanadventurer/WhatWeb', CRS] },
  { name: 'Wapiti', agents: ['wapiti'], references: ['https://github.com/wapiti-scanner/wapiti', CRS] },
  { name: 'Vega', agents: ['vega/'], references: ['https://subgraph.com/vega/', CRS] },
  { name: 'IBM AppScan', agents: ['appscan'], references: [CRS] },
  { name: 'Rapid7 AppSpider', agents: ['appspider'], references: ['https://docs.rapid7.com/appspider/', CRS] },
  { name: 'Qualys Web Application Scanning', agents: ['qualysguard', 'qualys'], references: ['https://www.qualys.com/apps/web-app-scanning', CRS] },
  { name: 'OWASP ZAP', agents: ['owasp zap', 'zaproxy'], references: ['https://www.zaproxy.org/'] },
  { name: 'Paros', agents: ['paros/'], references: ['https://sourceforge.net/projects/paros/'] },
  { name: 'WebInspect', agents: ['webinspect'], references: ['https://www.opentext.com/products/fortify-webinspect'] },
  { name: 'Jaeles', agents: ['jaeles'], references: ['https://github.com/jaeles-project/jaeles'] },
  { name: 'LeakIX', agents: ['l9explore', 'l9tcpid'], references: ['https://github.com/LeakIX/l9explore', CRS] },
  { name: 'CMSmap', agents: ['cmsmap'], references: ['https://github.com/dionach/CMSmap', CRS] },
  { name: 'JoomScan', agents: ['joomscan'], references: ['https://github.com/OWASP/joomscan', CRS] },
  { name: 'droopescan', agents: ['droopescan'], references: ['https://github.com/SamJoan/droopescan', CRS] },
  { name: 'OWASP Nettacker', agents: ['nettacker'], references: ['https://github.com/OWASP/Nettacker', CRS] },
  { name: 'Tsunami', agents: ['tsunamisecurityscanner'], references: ['https://github.com/google/tsunami-security-scanner', CRS] },
  { name: 'Ghauri', agents: ['ghauri'], references: ['https://github.com/r0oth3x49/ghauri', CRS] },
  { name: 'SSTImap', agents: ['sstimap'], references: ['https://github.com/vladko312/SSTImap', CRS] },
  { name: 'DotDotPwn', agents: ['dotdotpwn'], references: ['https://github.com/wireghoul/dotdotpwn', CRS] },
  { name: 'libwhisker', agents: ['libwhisker'], references: [CRS] },
  { name: 'webshag', agents: ['webshag'], references: [CRS] },
  { name: 'N-Stalker', agents: ['n-stalker'], references: ['https://nstalker.com/', CRS] },
  { name: 'sqlninja', agents: ['sqlninja'], references: ['https://github.com/xxgrunge/sqlninja', CRS] },
  { name: 'Mozlila typo bot', agents: ['mozlila', 'mozilla/5.g'], references: ['https://trunc.org/learning/the-mozlila-user-agent-bot', CRS] },
];

/**
 * Out-of-band interaction domains and scanner test strings. Someone put them in a request so that
 * a vulnerable server would call back or echo them: only scanners and exploit kits do that.
 */
export const SCANNER_MARKERS: readonly ScannerMarker[] = [
  {
    name: 'Acunetix test payloads',
    markers: ['acunetix_wvs_security_test', 'acunetix-wvs-test', 'bxss.me', 'testasp.vulnweb.com', 'testphp.vulnweb.com'],
    references: ['https://www.acunetix.com/', 'http://testphp.vulnweb.com/'],
  },
  { name: 'Netsparker / Invicti test payloads', markers: ['netsparker'], references: ['https://www.invicti.com/'] },
  {
    name: 'Interactsh (Nuclei) out-of-band servers',
    markers: ['.oast.pro', '.oast.live', '.oast.site', '.oast.online', '.oast.fun', '.oast.me', '.interact.sh', 'interactsh'],
    references: ['https://github.com/projectdiscovery/interactsh', 'https://github.com/projectdiscovery/nuclei'],
  },
  {
    name: 'Burp Collaborator',
    markers: ['burpcollaborator.net', '.oastify.com'],
    references: ['https://portswigger.net/burp/documentation/collaborator'],
  },
  {
    name: 'Public DNS-callback services used by exploit kits',
    markers: ['.dnslog.cn', '.ceye.io', '.requestrepo.com', '.canarytokens.com', '.dnslog.link'],
    references: ['http://dnslog.cn/', 'http://ceye.io/', 'https://requestrepo.com/', 'https://canarytokens.org/'],
  },
];
