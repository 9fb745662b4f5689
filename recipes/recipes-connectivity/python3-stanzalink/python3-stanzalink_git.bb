SUMMARY = "Put an embedded Linux device on XMPP"
DESCRIPTION = "stanzalink keeps one outbound XMPP client connection from the \
               device to a standard server and lets allowed people and programs \
               reach the device from ordinary chat clients."
HOMEPAGE = "https://example.invalid/stanzalink"
BUGTRACKER = "https://example.invalid/stanzalink/issues"
SECTION = "devel/python"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=1d29bbbe6b52930fe0b42544aa7db5b5"
CVE_PRODUCT = "stanzalink"

DEPENDS += "python3-cffi-native"

PV = "0.1.0+git"

SRC_URI = "git://example.invalid/stanzalink.git;protocol=https;branch=main;destsuffix=${BP} \
           file://run-ptest \
           "
# release builds pin a commit in a .bbappend; AUTOREV follows main
SRCREV = "${AUTOREV}"

inherit python_setuptools_build_meta ptest systemd update-rc.d useradd

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/stanzalink --no-create-home --shell /bin/false --user-group stanzalink"
# polkit reads its rules as polkitd (the user meta-oe's polkit and oe-core's
# systemd recipe create the same way)
USERADD_PARAM:${PN} += "${@bb.utils.contains('DISTRO_FEATURES', 'systemd', '; --system --no-create-home --user-group --home-dir ${sysconfdir}/polkit-1 --shell /sbin/nologin polkitd', '', d)}"

SYSTEMD_SERVICE:${PN} = "stanzalink.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"
# images with sysvinit (poky's default) start the agent with the SysV script,
# which respawns it when it dies
INITSCRIPT_NAME = "stanzalink"
INITSCRIPT_PARAMS = "defaults 90 10"

do_install:append() {
    install -d ${D}${sysconfdir}/stanzalink
    install -m 0640 ${S}/packaging/device.toml ${D}${sysconfdir}/stanzalink/device.toml
    # the agent runs as stanzalink: it must read its config (and the password
    # file provisioned next to it), nobody else
    chown root:stanzalink ${D}${sysconfdir}/stanzalink/device.toml
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/packaging/stanzalink.service ${D}${systemd_system_unitdir}/stanzalink.service
    sed -i -e 's,/usr/bin/stanzalink,${bindir}/stanzalink,g' ${D}${systemd_system_unitdir}/stanzalink.service
    # "reboot" under systemd: `systemctl reboot` as the user stanzalink, which
    # this polkit rule allows and nothing else (docs/deploy.md)
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d -m 0700 ${D}${datadir}/polkit-1/rules.d
        chown polkitd:root ${D}${datadir}/polkit-1/rules.d
        install -m 0644 ${S}/packaging/10-stanzalink.rules ${D}${datadir}/polkit-1/rules.d/10-stanzalink.rules
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        install -m 0755 ${S}/packaging/S90stanzalink ${D}${sysconfdir}/init.d/stanzalink
        sed -i -e 's,/usr/bin/stanzalink,${bindir}/stanzalink,g' ${D}${sysconfdir}/init.d/stanzalink
        # "reboot" without systemd: the script's root-side listener reboots
        # when this asks it to (docs/deploy.md)
        install -d ${D}${libexecdir}/stanzalink
        install -m 0755 ${S}/packaging/request-reboot ${D}${libexecdir}/stanzalink/request-reboot
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'false', 'true', d)}; then
        sed -i -e 's,^# reboot_command = .*,reboot_command = ["${libexecdir}/stanzalink/request-reboot"],' ${D}${sysconfdir}/stanzalink/device.toml
    fi
}

do_install_ptest() {
    install -d ${D}${PTEST_PATH}/tests ${D}${PTEST_PATH}/bench
    cp -r ${S}/tests/* ${D}${PTEST_PATH}/tests/
    # the test kit (the conversation harness), which the package does not install
    install -d ${D}${PTEST_PATH}/agent
    cp -r ${S}/agent/stanzalink_testing ${D}${PTEST_PATH}/agent/
    # the sample streams, example config and console plugins the tests use
    cp -r ${S}/examples ${D}${PTEST_PATH}/
    install -m 0644 ${S}/bench/corpus.py ${D}${PTEST_PATH}/bench/
    install -m 0644 ${S}/pyproject.toml ${D}${PTEST_PATH}/
}

FILES:${PN} += "${systemd_system_unitdir}/stanzalink.service ${datadir}/polkit-1"
CONFFILES:${PN} = "${sysconfdir}/stanzalink/device.toml"

# the standard library modules the agent imports, by the package that
# oe-core's python3 manifest puts them in (stringprep and unicodedata
# are in python3-core; tomllib, shlex and difflib have packages of their own;
# random is in python3-math); tests/packaging/test_runtime_deps.py checks the list
RDEPENDS:${PN} += "\
    python3-asyncio \
    python3-cffi \
    python3-codecs \
    python3-core \
    python3-crypt \
    python3-ctypes \
    python3-datetime \
    python3-difflib \
    python3-io \
    python3-json \
    python3-logging \
    python3-math \
    python3-netclient \
    python3-shell \
    python3-threading \
    python3-tomllib \
    python3-xml \
"
# the tests' own imports: http.server needs socketserver (python3-netserver),
# the diag plugin's test reads a tar.gz (python3-compression)
RDEPENDS:${PN}-ptest += "\
    python3-compression \
    python3-hypothesis \
    python3-netserver \
    python3-pickle \
    python3-pytest \
"
