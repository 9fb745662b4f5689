include $(sort $(wildcard $(BR2_EXTERNAL_STANZALINK_PATH)/package/*/*.mk))
