################################################################################
#
# python-stanzalink
#
################################################################################

PYTHON_STANZALINK_VERSION = 0.1.0
PYTHON_STANZALINK_SITE = $(BR2_EXTERNAL_STANZALINK_PATH)/..
PYTHON_STANZALINK_SITE_METHOD = local
PYTHON_STANZALINK_SETUP_TYPE = pep517
PYTHON_STANZALINK_LICENSE = MIT
PYTHON_STANZALINK_LICENSE_FILES = LICENSE
PYTHON_STANZALINK_DEPENDENCIES = host-python-cffi host-python-setuptools

# "reboot" on an image without systemd asks the SysV script's root-side
# listener (docs/deploy.md); systemd images keep `systemctl reboot`
define PYTHON_STANZALINK_INSTALL_CONFIG
	$(INSTALL) -D -m 0640 $(@D)/packaging/device.toml \
		$(TARGET_DIR)/etc/stanzalink/device.toml
	$(if $(BR2_INIT_SYSTEMD),,$(SED) 's,^# reboot_command = .*,reboot_command = ["/usr/libexec/stanzalink/request-reboot"],' \
		$(TARGET_DIR)/etc/stanzalink/device.toml)
endef
PYTHON_STANZALINK_POST_INSTALL_TARGET_HOOKS += PYTHON_STANZALINK_INSTALL_CONFIG

# the agent runs as stanzalink: it must read its config, nobody else
define PYTHON_STANZALINK_PERMISSIONS
	/etc/stanzalink/device.toml f 0640 root stanzalink - - - - -
endef

define PYTHON_STANZALINK_USERS
	stanzalink -1 stanzalink -1 * /var/lib/stanzalink - - stanzalink device agent
endef

# "reboot": `systemctl reboot` as the user stanzalink, which the polkit rule
# allows and nothing else (polkit's package makes rules.d polkitd's, 0700)
define PYTHON_STANZALINK_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/packaging/stanzalink.service \
		$(TARGET_DIR)/usr/lib/systemd/system/stanzalink.service
	$(INSTALL) -D -m 0644 $(@D)/packaging/10-stanzalink.rules \
		$(TARGET_DIR)/usr/share/polkit-1/rules.d/10-stanzalink.rules
endef

# "reboot": request-reboot asks the script's root-side listener
define PYTHON_STANZALINK_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/packaging/S90stanzalink \
		$(TARGET_DIR)/etc/init.d/S90stanzalink
	$(INSTALL) -D -m 0755 $(@D)/packaging/request-reboot \
		$(TARGET_DIR)/usr/libexec/stanzalink/request-reboot
endef

$(eval $(python-package))
